import { LbError, notOnReplicas } from '../contract/errors.js';
import type { ReplicaHandle } from '../replicas/driver.js';
import type { RequestKey } from '../routing/index.js';
import { type Framing, failureResponse, requestHead, responseHead } from './headers.js';
import type { Head } from './http-parser.js';
import type { RequestId } from './request-id.js';
import type { ResponseHandler, UpstreamConnection, UpstreamError, UpstreamPool } from './upstream.js';

/** What one exchange needs from the forwarder: pools, bookkeeping and the failover order. */
export interface ExchangeHost {
  pool(replica: ReplicaHandle): UpstreamPool;
  /** Counts a request in flight to the replica (until `settled`). */
  began(replica: string): void;
  settled(replica: string): void;
  /** The replica answered with status `code` (as the client sees it) after `ms` to headers. */
  answered(replica: string, code: number, ms: number): void;
  /** The replica refused, reset or timed out before answering an attempt begun at `startedAt` (performance.now()). */
  failed(replica: string, error: Error, startedAt: number): void;
  /** The next distinct replica for `key` not yet tried, on the current routing table. */
  next(key: RequestKey, tried: ReadonlySet<string>): ReplicaHandle | undefined;
  /** Every candidate failed a replayable request (or none exists). */
  unavailable(): LbError;
  /** No connection to the replica was freed before the attempt's deadline. */
  busy(replica: string): LbError;
}

/** The client side of an exchange: where the answer goes, in order, on one connection. */
export interface ClientSide {
  readonly clientIp: string;
  /** Writes to the client; false when its buffer is full (wait for `onClientDrain`). */
  write(data: string | Buffer): boolean;
  cork(): void;
  uncork(): void;
  /** The answer is complete; `keepAlive` false closes the connection after it. */
  answered(keepAlive: boolean): void;
  /** Whether the connection stays open after this answer (client asked, LB not shutting down). */
  keepsAlive(requestKeepAlive: boolean): boolean;
  /** The answer cannot be completed (the replica broke off mid-stream): cut the connection. */
  abort(): void;
  /** Stop / start reading the client while the upstream cannot take more body. */
  pauseBody(): void;
  resumeBody(): void;
}

/** One request as parsed, with its body as it arrives. */
export interface ParsedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  readonly host: string | undefined;
  readonly versionMinor: number;
  readonly keepAlive: boolean;
  readonly hasBody: boolean;
  readonly chunked: boolean;
  readonly expectsContinue: boolean;
  /** The client's X-Request-Id, as sent. */
  readonly requestId: string | undefined;
}

/** Where an exchange goes: a replica (with failover), or the LB's own routes (Fastify). */
export type Destination =
  | { readonly kind: 'replica'; readonly id: RequestId; readonly replica: ReplicaHandle }
  | { readonly kind: 'unavailable'; readonly id: RequestId }
  | { readonly kind: 'own'; readonly pool: UpstreamPool; readonly unavailable: (code: string) => LbError };

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Answers up to this size (declared by Content-Length) are held until whole, then sent in one write. */
const HOLD_LIMIT = 64 * 1024;

/**
 * One client request on its way through the LB: sent to a replica over a pooled raw socket,
 * sent again to the next replica when a bodiless GET/HEAD finds it dead before any answer,
 * and the answer relayed to the client with backpressure both ways.
 */
export class Exchange implements ResponseHandler {
  private readonly replayable: boolean;
  private connection: UpstreamConnection | undefined;
  private cancelWait: (() => void) | undefined;
  /** Body received before the upstream connection was ready. */
  private pending: Buffer[] | undefined;
  private bodyComplete: boolean;
  private target: ReplicaHandle | undefined;
  private tried: Set<string> | undefined;
  private startedAt = 0;
  /** The current attempt's deadline (ms epoch): waiting for a connection and for the answer's head both count. */
  private attemptDeadline = 0;
  /** How the answer is relayed: undefined until its head arrives. */
  private mode: 'buffer' | 'relay' | 'discard' | undefined;
  /** A small sized answer is held until whole: a replica breaking it off gets a clean 502. */
  private held: { head: string; chunks: Buffer[] } | undefined;
  private framing: Framing = 'none';
  private keepAlive = false;
  private done = false;
  private retriedStale = false;
  /** The replica counted as having this request in flight. */
  private inFlightTo: string | undefined;
  /** The client socket is corked until this read's callbacks are over. */
  private corked = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly client: ClientSide,
    private readonly request: ParsedRequest,
    private readonly destination: Destination,
  ) {
    this.replayable = !request.hasBody && (request.method === 'GET' || request.method === 'HEAD');
    this.bodyComplete = !request.hasBody;
  }

  start(): void {
    const { destination } = this;
    if (destination.kind === 'unavailable') return this.replyFailure(this.host.unavailable());
    if (this.request.expectsContinue) this.client.write(CONTINUE);
    if (destination.kind === 'own') return this.connect(destination.pool);
    this.sendTo(destination.replica);
  }

  /** A piece of the request body from the client. */
  onRequestBody(chunk: Buffer): void {
    if (this.done && this.connection === undefined) return;
    if (this.connection === undefined) {
      (this.pending ??= []).push(chunk);
      return;
    }
    if (!this.connection.writeBody(chunk, this.request.chunked)) this.client.pauseBody();
  }

  onRequestComplete(): void {
    this.bodyComplete = true;
    if (this.request.hasBody) this.connection?.endBody(this.request.chunked);
  }

  /** The client's connection closed: stop asking the upstream for an answer nobody will read. */
  cancel(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.release();
    this.done = true;
  }

  endBatch(): void {
    if (!this.corked) return;
    this.corked = false;
    this.client.uncork();
  }

  /** Writes to the client, corked until the end of this read (head and body leave in one writev). */
  private out(data: string | Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.client.cork();
    }
    return this.client.write(data);
  }

  onResponseHead(head: Head): number {
    const { request, destination } = this;
    const replica = this.target;
    const status = head.status;
    if (replica !== undefined && destination.kind === 'replica') {
      const ms = performance.now() - this.startedAt;
      if (status === 404) {
        this.host.answered(replica.name, 400, ms);
        this.mode = 'discard';
        this.replyFailure(notOnReplicas(request.path));
        return 0;
      }
      this.host.answered(replica.name, status, ms);
    }
    const bodiless = request.method === 'HEAD' || status === 204 || status === 304;
    const length = bodiless ? undefined : contentLengthOf(head.headers);
    this.framing = bodiless
      ? 'none'
      : length !== undefined
        ? 'length'
        : request.versionMinor >= 1
          ? 'chunked'
          : 'close';
    // Answered before the whole request arrived: the rest of its body is not read, so the
    // connection cannot carry another request.
    this.keepAlive = this.framing !== 'close' && this.bodyComplete && this.client.keepsAlive(request.keepAlive);
    const id = destination.kind === 'own' ? undefined : destination.id.text;
    const text = responseHead({
      status,
      headers: head.headers,
      id,
      servedBy: replica?.name,
      framing: this.framing,
      keepAlive: this.keepAlive,
    });
    if (length !== undefined && length > 0 && length <= HOLD_LIMIT) {
      this.mode = 'buffer';
      this.held = { head: text, chunks: [] };
    } else {
      this.mode = 'relay';
      this.out(text);
    }
    return request.method === 'HEAD' ? 1 : 0;
  }

  onResponseBody(chunk: Buffer): void {
    if (this.mode === 'buffer') return void this.held!.chunks.push(chunk);
    if (this.mode !== 'relay' || this.done) return;
    let flushed: boolean;
    if (this.framing === 'chunked') {
      this.out(`${chunk.length.toString(16)}\r\n`);
      this.out(chunk);
      flushed = this.out('\r\n');
    } else {
      flushed = this.out(chunk);
    }
    // Backpressure: stop reading the replica until the client drains.
    if (!flushed) this.connection?.pause();
  }

  onClientDrain(): void {
    this.connection?.resume();
  }

  onUpstreamDrain(): void {
    this.client.resumeBody();
  }

  onResponseComplete(): void {
    this.settle();
    // The request was not sent whole: the connection is mid-request and can never be reused.
    if (!this.bodyComplete) this.release();
    if (this.done) return;
    if (this.mode === 'buffer') {
      const { head, chunks } = this.held!;
      this.held = undefined;
      // One plain write, not corked: nothing else of this answer goes out with it.
      this.client.write(wholeAnswer(head, chunks));
      return this.finish(this.keepAlive);
    }
    if (this.mode === 'relay') {
      if (this.framing === 'chunked') this.out('0\r\n\r\n');
      this.finish(this.keepAlive);
    }
  }

  onUpstreamError(error: UpstreamError): void {
    const connection = this.connection;
    this.connection = undefined;
    this.settle();
    if (this.done) return;
    if (this.mode === 'relay') return this.cut(); // what the client has cannot be taken back
    if (this.mode === 'discard') return;
    const replica = this.target;
    if (this.mode === 'buffer') {
      this.held = undefined;
      return this.replyFailure(
        new LbError(
          replica ? 'REPLICA_FAILED' : 'INTERNAL',
          `Replica ${replica?.name ?? 'lb'} broke off its answer: ${error.code}`,
        ),
      );
    }
    if (replica === undefined)
      return this.replyFailure(
        this.destination.kind === 'own' ? this.destination.unavailable(error.code) : new LbError('INTERNAL'),
      );
    // Busy, not broken: no blame, no failover (that would move the key), as HAProxy's queue timeout.
    if (error.code === 'POOL_TIMEOUT') return this.replyFailure(this.host.busy(replica.name), true, false);
    // A pooled connection the replica had just closed (the keep-alive race): one fresh try, no blame.
    if (connection?.reused && !connection.answering && !this.retriedStale && this.canResend()) {
      this.retriedStale = true;
      return this.sendTo(replica, true);
    }
    this.host.failed(replica.name, error, this.startedAt);
    if (this.replayable) return this.sendToNext();
    this.replyFailure(new LbError('REPLICA_FAILED', `Replica ${replica.name} failed: ${error.code}`));
  }

  /** The client timed out or broke the protocol mid-exchange: answer if nothing was sent, else cut. */
  fail(error: LbError): void {
    if (this.done) return;
    this.release();
    if (this.mode === undefined || this.mode === 'buffer') this.replyFailure(error, false);
    else this.cut();
  }

  private canResend(): boolean {
    // A body already streamed to the dead connection is gone: only a body still pending can be resent.
    return this.replayable || (this.pending === undefined && !this.request.hasBody);
  }

  private sendTo(replica: ReplicaHandle, fresh = false): void {
    this.target = replica;
    this.host.began(replica.name);
    this.inFlightTo = replica.name;
    this.startedAt = performance.now();
    this.connect(this.host.pool(replica), fresh);
  }

  private connect(pool: UpstreamPool, fresh = false): void {
    this.attemptDeadline = Date.now() + pool.options.responseTimeoutMs;
    this.cancelWait = pool.acquire(
      (error, connection) => {
        this.cancelWait = undefined;
        if (this.done) return connection?.destroy();
        if (error) return this.onUpstreamError(error);
        this.attach(connection!);
      },
      this.attemptDeadline,
      fresh,
    );
  }

  private attach(connection: UpstreamConnection): void {
    this.connection = connection;
    const { request } = this;
    const id = this.destination.kind === 'own' ? undefined : this.destination.id.text;
    const head = requestHead(request, id, this.client.clientIp, connection.authority);
    connection.send(this, head, !request.hasBody, this.attemptDeadline);
    const pending = this.pending;
    this.pending = undefined;
    if (pending) for (const chunk of pending) this.onRequestBody(chunk);
    if (request.hasBody && this.bodyComplete) connection.endBody(request.chunked);
  }

  private sendToNext(): void {
    const replica = this.target!;
    (this.tried ??= new Set()).add(replica.name);
    // The current membership: a concurrent /rm may have replaced the routing table.
    const next = this.destination.kind === 'replica' ? this.host.next(this.destination.id.key, this.tried) : undefined;
    if (next) return this.sendTo(next);
    this.replyFailure(this.host.unavailable(), true, false);
  }

  /** The contract's error as the whole answer, naming the replica when one caused it. */
  private replyFailure(error: LbError, keepAlive = true, namesReplica = true): void {
    const id = this.destination.kind === 'own' ? undefined : this.destination.id.text;
    const servedBy = namesReplica ? this.target?.name : undefined;
    const lbHeaders = id !== undefined ? ['x-request-id', id, ...(servedBy ? ['x-served-by', servedBy] : [])] : [];
    const alive = keepAlive && this.bodyComplete && this.client.keepsAlive(this.request.keepAlive);
    this.out(failureResponse(error, lbHeaders, alive));
    this.finish(alive);
  }

  private finish(keepAlive: boolean): void {
    if (this.done) return;
    this.done = true;
    this.endBatch();
    this.client.answered(keepAlive);
  }

  private cut(): void {
    this.done = true;
    this.endBatch();
    this.release();
    this.client.abort();
  }

  /** Gives up the upstream connection mid-exchange: it cannot be reused. */
  private release(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      connection.destroy();
      this.settle();
    }
  }

  /** The attempt is over: no longer in flight to its replica. */
  private settle(): void {
    if (this.inFlightTo === undefined) return;
    this.host.settled(this.inFlightTo);
    this.inFlightTo = undefined;
  }
}

/**
 * A held answer as one buffer: one write, no cork and writev. The head is latin1 text
 * (llhttp's header strings are one byte a character), so its length is its byte count.
 */
function wholeAnswer(head: string, chunks: readonly Buffer[]): Buffer {
  let size = head.length;
  for (const chunk of chunks) size += chunk.length;
  const whole = Buffer.allocUnsafe(size);
  let at = whole.write(head, 0, 'latin1');
  for (const chunk of chunks) at += chunk.copy(whole, at);
  return whole;
}

function contentLengthOf(headers: readonly string[]): number | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    const name = headers[k]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(headers[k + 1]);
  }
  return undefined;
}
