import { type ClientHttp2Session, connect } from 'node:http2';
import { connect as connectSocket } from 'node:net';
import type { Deadlines } from '../deadlines.js';
import { type Acquired, type PoolOptions, type Upstream, UpstreamError, type UpstreamTarget } from '../upstream.js';
import { H2cStream, type StreamSlot } from './upstream-stream.js';

/**
 * Flow-control windows to a replica: node:http2's default of 64 KiB a stream (and a session)
 * throttles a large body to one window per round trip; these let a stream run at wire speed while
 * a paused one still holds at most its window.
 */
const STREAM_WINDOW_BYTES = 1 << 20;
const SESSION_WINDOW_BYTES = 16 << 20;

/** A session's life as the upstream sees it. */
interface Session {
  readonly http2: ClientHttp2Session;
  /** Connected: streams may start on it. */
  ready: boolean;
  /** Streams open on it now, and in all. */
  open: number;
  carried: number;
}

/**
 * The h2c side of one replica (REPLICA_PROTOCOL=h2c): one multiplexed HTTP/2 session that every
 * exchange opens a stream on. After a GOAWAY or a failure, new streams go to a new session while
 * the old one's finish; an idle session is closed after `idleTimeoutMs`. Streams beyond the
 * replica's SETTINGS_MAX_CONCURRENT_STREAMS wait in nghttp2 for a free one, by their deadline.
 */
export class H2cUpstream implements Upstream, StreamSlot {
  readonly protocol = 'h2c';
  readonly authority: string;
  /** The session new streams go on. */
  private current: Session | undefined;
  private readonly sessions = new Map<ClientHttp2Session, Session>();
  /** Exchanges waiting for the current session to connect. */
  private readonly waiting = new Set<Acquired>();
  private closed = false;

  constructor(
    private readonly target: UpstreamTarget,
    readonly options: PoolOptions,
    readonly deadlines: Deadlines,
  ) {
    this.authority = 'path' in target ? 'localhost' : `${target.host}:${target.port}`;
  }

  acquire(done: Acquired, _deadline: number, _fresh: boolean): () => void {
    if (this.closed) {
      done(new UpstreamError('POOL_CLOSED'));
      return noop;
    }
    const session = this.current ?? this.connect();
    if (session.ready) {
      done(null, this.stream(session));
      return noop;
    }
    this.waiting.add(done);
    return () => this.waiting.delete(done);
  }

  ended(http2: ClientHttp2Session): void {
    const session = this.sessions.get(http2);
    if (session !== undefined) session.open--;
  }

  /** The replica left the routing table: its streams in flight finish, then the session closes. */
  close(): void {
    this.closed = true;
    this.fail(new UpstreamError('POOL_CLOSED'));
    for (const { http2 } of this.sessions.values()) http2.close();
  }

  private stream(session: Session): H2cStream {
    session.open++;
    return new H2cStream(this, session.http2, session.carried++ > 0);
  }

  private connect(): Session {
    const { target, options } = this;
    const http2 = connect(`http://${this.authority}`, {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
      createConnection: () => {
        const socket = 'path' in target ? connectSocket(target.path) : connectSocket(target.port, target.host);
        socket.setNoDelay(true);
        return socket;
      },
    });
    const session: Session = { http2, ready: false, open: 0, carried: 0 };
    this.current = session;
    this.sessions.set(http2, session);
    const connectTimer = setTimeout(() => {
      this.retire(session, new UpstreamError('CONNECT_TIMEOUT', `no connection within ${options.connectTimeoutMs} ms`));
      http2.destroy();
    }, options.connectTimeoutMs);
    http2.once('connect', () => {
      clearTimeout(connectTimer);
      session.ready = true;
      http2.setLocalWindowSize(SESSION_WINDOW_BYTES);
      const waiting = [...this.waiting];
      this.waiting.clear();
      for (const done of waiting) done(null, this.stream(session));
    });
    let failure: UpstreamError | undefined;
    http2.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= new UpstreamError(error.code ?? 'SESSION_ERROR', error.message);
    });
    // The replica is closing it: streams it took finish, new ones go to a new session.
    http2.on('goaway', () => this.retire(session, undefined));
    http2.on('close', () => {
      clearTimeout(connectTimer);
      this.sessions.delete(http2);
      this.retire(session, failure ?? new UpstreamError('ECONNRESET', 'the replica closed the session'));
    });
    http2.setTimeout(options.idleTimeoutMs, () => {
      if (session.open === 0) http2.close();
    });
    return session;
  }

  /** `session` takes no new streams; exchanges still waiting for it to connect get `error`. */
  private retire(session: Session, error: UpstreamError | undefined): void {
    if (this.current !== session) return;
    this.current = undefined;
    if (!session.ready) this.fail(error ?? new UpstreamError('ECONNRESET', 'the replica closed the session'));
  }

  private fail(error: UpstreamError): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const done of waiting) done(error);
  }
}

function noop(): void {}
