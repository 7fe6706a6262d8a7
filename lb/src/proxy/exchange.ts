import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ReplicaHandle } from '../replicas/driver.js';
import { codeOf, failureBody, LbError, notOnReplicas } from '../contract/errors.js';
import type { RequestId } from './request-id.js';
import { contentLength, downstreamHeaders, upstreamHeaders } from './headers.js';

/** What one exchange needs from the forwarder: connections, bookkeeping and the failover order. */
export interface ExchangeHost {
  dispatcher(replica: ReplicaHandle): Dispatcher;
  /** Counts a request in flight to the replica (until `settled`). */
  began(replica: string): void;
  settled(replica: string): void;
  /** The replica answered with status `code` (as the client sees it) after `ms` to headers. */
  answered(replica: string, code: number, ms: number): void;
  /** The replica refused, reset or timed out before answering. */
  failed(replica: string, error: Error): void;
  /** The next distinct replica for `key` not yet tried, on the current ring. */
  next(key: RequestId['key'], tried: ReadonlySet<string>): ReplicaHandle | undefined;
  /** Every candidate failed a replayable request. */
  exhausted(res: ServerResponse, id: RequestId): void;
}

/** Bodies up to this size (declared by Content-Length) go out in one write with the headers. */
const BUFFER_LIMIT = 64 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * One client request on its way through the LB: sent to a replica, sent again to the
 * next one when a bodiless GET/HEAD finds it dead, and the answer relayed to the client.
 * It is its own undici dispatch handler, so a request costs one object, not a stream
 * and a promise per hop.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private readonly headers: string[];
  private readonly body: IncomingMessage | null;
  private readonly replayable: boolean;
  /** Kept: undici destroys the request body once sent, and Node then clears `req.socket`. */
  private readonly connection: WatchedSocket;
  private target!: ReplicaHandle;
  private tried: Set<string> | undefined;
  private started = 0;
  /** How the current answer is relayed; undefined until its headers arrive. */
  private mode: 'buffer' | 'stream' | 'discard' | undefined;
  private status = 0;
  private answerHeaders: string[] = [];
  private chunks: Buffer[] = [];
  private abort: ((error?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private cancelled = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly id: RequestId,
  ) {
    this.body = hasBody(req) ? req : null;
    // Only a bodiless GET/HEAD can be sent again to another replica.
    this.replayable = this.body === null && (req.method === 'GET' || req.method === 'HEAD');
    this.connection = req.socket;
    this.headers = upstreamHeaders(req.rawHeaders, id.text, req.socket.remoteAddress);
  }

  /** The client's connection closed: stop asking the replica for an answer nobody will read. */
  cancel(): void {
    this.cancelled = true;
    this.abort?.();
  }

  /** Sends to `target`; the attempt is cancelled if the client's connection closes meanwhile. */
  send(target: ReplicaHandle): void {
    watchConnection(this.connection).add(this);
    this.target = target;
    this.mode = undefined;
    this.abort = undefined;
    this.host.began(target.name);
    this.started = performance.now();
    const options: Dispatcher.DispatchOptions = {
      path: this.req.url!,
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers,
      body: this.body,
    };
    this.host.dispatcher(target).dispatch(options, this);
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
    if (this.cancelled) abort(); // the client left while the request waited for a connection
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (this.clientLeft()) return false;
    const replica = this.target.name;
    const ms = performance.now() - this.started;
    if (status === 404) {
      this.host.answered(replica, 400, ms);
      this.mode = 'discard';
      this.reply(notOnReplicas(this.req.url!));
      return true;
    }
    this.host.answered(replica, status, ms);
    this.status = status;
    this.answerHeaders = downstreamHeaders(raw, this.id.text, replica);
    const length = contentLength(raw);
    if (length !== undefined && length <= BUFFER_LIMIT) {
      this.mode = 'buffer';
      return true;
    }
    this.mode = 'stream';
    this.resume = resume;
    this.res.writeHead(status, this.answerHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.mode === 'buffer') {
      this.chunks.push(chunk);
      return true;
    }
    if (this.mode !== 'stream') return true;
    if (this.clientLeft()) return false;
    // Backpressure: undici pauses the replica's socket until the client drains.
    const flushed = this.res.write(chunk);
    if (!flushed) this.res.once('drain', this.resume!);
    return flushed;
  }

  onComplete(): void {
    this.settle();
    if (this.mode === 'buffer') {
      this.res.writeHead(this.status, this.answerHeaders);
      this.res.end(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
    } else if (this.mode === 'stream') {
      this.res.end();
    }
  }

  onError(error: Error): void {
    this.settle();
    if (this.cancelled) return;
    const replica = this.target.name;
    if (this.mode === undefined) {
      this.host.failed(replica, error);
      if (this.replayable) return this.sendToNext();
      return this.reply(new LbError('REPLICA_FAILED', `Replica ${replica} failed: ${codeOf(error)}`));
    }
    // The replica answered, then broke off: what the client already has cannot be taken back.
    if (this.mode === 'stream') this.res.destroy(error);
    else if (this.mode === 'buffer') this.reply(new LbError('REPLICA_FAILED', `Replica ${replica} broke off its answer: ${codeOf(error)}`));
  }

  /** The attempt is over: no longer in flight to the replica, nor watched on the client's connection. */
  private settle(): void {
    this.host.settled(this.target.name);
    watchConnection(this.connection).delete(this);
  }

  /** Checked before relaying: the connection's 'close' may not have been emitted yet. */
  private clientLeft(): boolean {
    if (!this.res.destroyed) return false;
    this.cancel();
    return true;
  }

  private sendToNext(): void {
    if (this.clientLeft()) return;
    this.tried ??= new Set();
    this.tried.add(this.target.name);
    // The current membership: a concurrent /rm may have replaced the snapshot.
    const next = this.host.next(this.id.key, this.tried);
    if (next) return this.send(next);
    this.host.exhausted(this.res, this.id);
  }

  /** The contract's error, naming the replica that caused it. */
  private reply(error: LbError): void {
    sendFailure(this.res, error, ['x-request-id', this.id.text, 'x-served-by', this.target.name]);
  }
}

const EXCHANGES = Symbol('exchanges in flight');
type WatchedSocket = Socket & { [EXCHANGES]?: Set<Exchange> };

/**
 * The exchanges in flight on a client connection (more than one only when pipelined).
 * One 'close' listener per connection, not per request: a listener on every response
 * cost ~10 us per request, and keep-alive connections carry thousands of requests.
 */
function watchConnection(socket: WatchedSocket): Set<Exchange> {
  let exchanges = socket[EXCHANGES];
  if (exchanges === undefined) {
    const watched = new Set<Exchange>();
    socket[EXCHANGES] = exchanges = watched;
    socket.once('close', () => {
      for (const exchange of watched) exchange.cancel();
      watched.clear();
    });
  }
  return exchanges;
}

/** The contract's JSON error, with the given extra headers ([name, value, ...]). */
export function sendFailure(res: ServerResponse, error: LbError, headers: string[]): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(failureBody(error));
  res.writeHead(error.status, ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(text)), ...headers]);
  res.end(text);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
