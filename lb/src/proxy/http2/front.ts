import {
  constants,
  createServer,
  type Http2Server,
  type Http2Session,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { LbError } from '../../contract/errors.js';
import { isGrpc } from '../header-list.js';
import { logRefusal, type Observers } from '../observation.js';
import type { RelayStrategy, RequestClient } from '../relay-strategy.js';
import type { AdmittedRequest } from '../request.js';
import { SessionGuard } from './abuse.js';
import { admitStream } from './admission.js';
import { grpcFailure, grpcStatusOf, h2Failure, stopSending } from './responses.js';
import { StreamRelay, viaOf } from './stream-relay.js';

const { NGHTTP2_FLAG_END_STREAM } = constants;
/** The largest header block a client may send (as HTTP/1's 16 KiB head), counted as RFC 9113 counts it. */
const MAX_HEADER_LIST_BYTES = 16 * 1024;
/** How long a closed session's socket waits for the client to close its side (as HTTP/1's lingering close). */
const LINGER_MS = 5000;

/** What the HTTP/2 side needs from the data plane. */
export interface StreamHost {
  readonly observers: Observers;
  /** An idle session is closed (GOAWAY) after this. */
  readonly keepAliveTimeoutMs: number;
  /** Where a stream's request goes: a replica, or the LB's own routes. */
  strategyFor(client: RequestClient, request: AdmittedRequest): RelayStrategy;
  /** A session closed (shutdown waits for all of them). */
  sessionClosed(): void;
}

export interface Http2Options {
  /** Streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
}

/**
 * HTTP/2 client connections (prior knowledge: they began with the connection preface), served by
 * node:http2 (nghttp2): every stream is one request, relayed to the replicas under the same rules
 * as an HTTP/1 request. nghttp2 refuses what RFC 9113 forbids (connection-specific headers,
 * uppercase names, missing pseudo-headers) and node:http2 bounds invalid frames and rejected streams.
 */
export class Http2Front {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  /** The sockets served, until each closes: a session can close before its socket does. */
  private readonly sockets = new Set<Socket>();
  private readonly guards = new WeakMap<Http2Session, SessionGuard>();

  constructor(
    private readonly host: StreamHost,
    options: Http2Options,
  ) {
    this.server = createServer({
      settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: MAX_HEADER_LIST_BYTES },
    });
    this.server.on('session', (session) => this.track(session));
    this.server.on('stream', (stream: ServerHttp2Stream, _headers: unknown, flags: number, rawHeaders: string[]) =>
      this.onStream(stream, flags, rawHeaders),
    );
    this.server.on('sessionError', () => undefined); // the session is destroyed; nothing else to do
  }

  /** Connections open now. */
  get size(): number {
    return this.sockets.size;
  }

  /**
   * `socket` speaks HTTP/2: it began with the preface (`first`, what was read of it, goes back to
   * the stream for nghttp2), or TLS's ALPN chose `h2`.
   */
  serve(socket: Socket, first?: Buffer): void {
    // A client that ends its side ends the session (HTTP/2 has no half-closed connection).
    socket.allowHalfOpen = false;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.host.sessionClosed();
    });
    // Once the session has ended the LB's side (after GOAWAY), a client that never closes its own is cut.
    socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
    if (first) socket.unshift(first);
    this.server.emit('connection', socket);
  }

  /** Shutdown: GOAWAY to every session; the streams in flight finish, no new ones start. */
  drain(): void {
    for (const session of this.sessions) if (!session.closed) session.close();
  }

  /** Whatever is still open after the drain bound is cut. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  private track(session: ServerHttp2Session): void {
    this.sessions.add(session);
    this.guards.set(session, new SessionGuard(session));
    session.setTimeout(this.host.keepAliveTimeoutMs, () => session.close());
    session.on('error', () => undefined); // 'close' follows
    session.on('close', () => this.sessions.delete(session));
  }

  private onStream(stream: ServerHttp2Stream, flags: number, rawHeaders: string[]): void {
    stream.on('error', () => undefined); // a reset stream: 'close' follows
    const guard = stream.session ? this.guards.get(stream.session) : undefined;
    if (headerListSize(rawHeaders) > MAX_HEADER_LIST_BYTES) {
      // nghttp2 advertises the bound but takes more: a client past it is told to calm down, and closed.
      guard?.calm();
      return;
    }
    guard?.streamOpened();
    const { observers } = this.host;
    const clientIp = stream.session?.socket?.remoteAddress ?? 'unknown';
    const grpc = isGrpc(rawHeaders);
    const admitted = admitStream(rawHeaders, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    if (admitted instanceof LbError) {
      refuse(stream, admitted, grpc, observers, clientIp);
      return;
    }
    const strategy = this.host.strategyFor({ clientIp, observers }, admitted);
    const relay = new StreamRelay(stream, admitted, strategy, observers, clientIp, grpc);
    stream.on('data', (chunk: Buffer) => relay.onRequestBody(chunk));
    stream.on('end', () => relay.onRequestComplete());
    stream.on('drain', () => relay.onClientDrain());
    stream.on('close', () => {
      if (!relay.finished) guard?.streamResetEarly();
      relay.cancel();
    });
    relay.start();
  }
}

/** A header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it: name, value and 32 octets a field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let k = 0; k < rawHeaders.length; k += 2) size += rawHeaders[k]!.length + rawHeaders[k + 1]!.length + 32;
  return size;
}

/** A stream refused before forwarding: the contract's error (a gRPC status for a gRPC call). */
function refuse(
  stream: ServerHttp2Stream,
  error: LbError,
  grpc: boolean,
  observers: Observers,
  clientIp: string,
): void {
  if (grpc) {
    stream.respond(grpcFailure(grpcStatusOf(error), error.message, undefined, undefined), { endStream: true });
  } else {
    const { headers, body } = h2Failure(error, undefined, undefined);
    stream.respond(headers);
    stream.end(body);
  }
  stopSending(stream);
  logRefusal(observers.requestLog, clientIp, undefined, error, 0, viaOf(stream));
}
