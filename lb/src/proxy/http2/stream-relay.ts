import { constants, type ServerHttp2Stream } from 'node:http2';
import { LbError } from '../../contract/errors.js';
import type { Head } from '../http1/parser.js';
import { UpstreamPool } from '../http1/pool.js';
import type { ResponseHandler, UpstreamConnection } from '../http1/upstream-connection.js';
import { requestHead } from '../http1/wire.js';
import { Observation, type Observers } from '../observation.js';
import type { Attempts, RelayStrategy } from '../relay-strategy.js';
import type { AdmittedRequest } from '../request.js';
import type { Upstream, UpstreamError } from '../upstream.js';
import { grpcFailure, grpcStatusOf, h2Failure, h2ResponseHeaders, stopSending } from './responses.js';

const { NGHTTP2_INTERNAL_ERROR } = constants;

/**
 * One HTTP/2 stream relayed to an HTTP/1 replica over its pool (translated, as nginx and HAProxy
 * do) and its answer back, with flow control both ways: the stream is paused while the replica
 * cannot take more body, the replica's socket while the stream's window is full. Where it goes and
 * what a failure does is its strategy's, exactly as for an HTTP/1 request.
 */
export class StreamRelay implements ResponseHandler, Attempts {
  readonly seen: Observation | undefined;
  private servedBy: string | undefined;
  private connection: UpstreamConnection | undefined;
  private bodyComplete: boolean;
  private done = false;
  /** Body received before an upstream connection was ready. */
  private pending: Buffer[] | undefined;
  /** How the answer goes: undefined until its head arrives; 'discard' when answered in its place. */
  private mode: 'relay' | 'discard' | undefined;
  private cancelWait: (() => void) | undefined;
  private attemptDeadline = 0;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly request: AdmittedRequest,
    private readonly strategy: RelayStrategy,
    observers: Observers,
    clientIp: string,
    /** A gRPC call: errors are gRPC statuses in trailers. */
    private readonly grpc: boolean,
  ) {
    this.bodyComplete = !request.hasBody;
    if (observers.requestLog !== undefined || strategy.trace?.span !== undefined) {
      this.seen = new Observation(observers, clientIp, request.method, request.path, request.headers, strategy.trace);
      strategy.observe?.(this.seen);
    }
  }

  get deadline(): number {
    return this.attemptDeadline;
  }

  start(): void {
    this.strategy.start(this);
  }

  // ---- the client's stream (the front wires its events here)

  onRequestBody(chunk: Buffer): void {
    if (this.seen && !this.done) this.seen.record.bytesIn += chunk.length;
    if (this.done && this.connection === undefined) return;
    if (this.connection === undefined) {
      this.pending ??= [];
      this.pending.push(chunk);
      return;
    }
    if (!this.connection.writeBody(chunk, this.request.chunked)) this.stream.pause();
  }

  onRequestComplete(): void {
    this.bodyComplete = true;
    if (this.request.hasBody) this.connection?.endBody(this.request.chunked);
  }

  /** The stream can take more of the answer. */
  onClientDrain(): void {
    this.connection?.resume();
  }

  /** The client reset or closed the stream before its answer was done. */
  cancel(): void {
    if (this.done) return;
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.release();
    this.done = true;
    this.seen?.end('the client closed the stream');
  }

  // ---- Attempts, for the strategy

  attempt(upstream: Upstream, servedBy: string | undefined, fresh = false, deadline?: number): void {
    if (!(upstream instanceof UpstreamPool)) throw new Error('an HTTP/2 stream relays to HTTP/1 pools only');
    this.servedBy = servedBy;
    if (this.grpc && servedBy !== undefined) {
      // gRPC needs HTTP/2 (and trailers) end to end; this replica speaks HTTP/1.1.
      this.strategy.settle();
      this.reply(
        new LbError(
          'REPLICA_FAILED',
          `Replica ${servedBy} does not speak h2c: a gRPC call cannot be relayed to it over HTTP/1.1`,
        ),
      );
      return;
    }
    this.attemptDeadline = deadline ?? Date.now() + upstream.options.responseTimeoutMs;
    this.cancelWait = upstream.acquire(
      (error, connection) => {
        this.cancelWait = undefined;
        if (this.done) connection?.destroy();
        else if (error) this.onUpstreamError(error);
        else this.attach(connection!);
      },
      this.attemptDeadline,
      fresh,
    );
  }

  reply(error: LbError, _keepAlive = true, namesReplica = true): void {
    if (this.done) return;
    const servedBy = namesReplica ? this.servedBy : undefined;
    if (this.seen) {
      this.seen.record.status = error.status;
      this.seen.record.error = error.message;
    }
    this.release();
    if (this.stream.headersSent) {
      this.cut(error.message);
      return;
    }
    if (this.grpc) {
      this.stream.respond(grpcFailure(grpcStatusOf(error), error.message, this.strategy.id, servedBy), {
        endStream: true,
      });
    } else {
      const { headers, body } = h2Failure(error, this.strategy.id, servedBy);
      this.stream.respond(headers);
      this.count(body.length);
      this.stream.end(body);
    }
    this.finish();
  }

  continueIfAsked(): void {} // HTTP/2 clients send their body without waiting for 100 Continue

  // ---- ResponseHandler, for the upstream connection

  onResponseHead(head: Head): number {
    const refusal = this.strategy.accept(head.status);
    if (refusal) {
      this.mode = 'discard';
      this.reply(refusal);
      return 0;
    }
    const { request } = this;
    const bodiless = request.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (this.seen) this.seen.record.status = head.status;
    this.mode = 'relay';
    if (!this.done && !this.stream.destroyed) {
      this.stream.respond(h2ResponseHeaders(head.status, head.headers, this.strategy.id, this.servedBy), {
        endStream: bodiless,
      });
    }
    return request.method === 'HEAD' ? 1 : 0;
  }

  onResponseBody(chunk: Buffer): void {
    if (this.mode !== 'relay' || this.done || this.stream.destroyed) return;
    this.count(chunk.length);
    // Flow control: the replica's socket waits while the stream's window (and buffer) is full.
    if (!this.stream.write(chunk)) this.connection?.pause();
  }

  onResponseComplete(): void {
    this.strategy.settle();
    if (!this.bodyComplete) this.release();
    if (this.done || this.mode !== 'relay') return;
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
    this.finish();
  }

  onUpstreamError(error: UpstreamError): void {
    const connection = this.connection;
    this.connection = undefined;
    this.strategy.settle();
    if (this.done || this.mode === 'discard') return;
    if (this.mode === 'relay') this.cut(`the upstream broke off its answer: ${error.code}`);
    else this.strategy.lost(error, connection, this);
  }

  onUpstreamDrain(): void {
    this.stream.resume();
  }

  // ---- internals

  private attach(connection: UpstreamConnection): void {
    this.connection = connection;
    const { request } = this;
    const head = requestHead(
      request,
      this.strategy.id,
      this.clientIp,
      connection.authority,
      this.strategy.trace?.traceparent,
      this.stream.session?.encrypted === true,
    );
    connection.send(this, head, !request.hasBody, this.attemptDeadline, false);
    const pending = this.pending;
    this.pending = undefined;
    if (pending) for (const chunk of pending) this.onRequestBody(chunk);
    if (request.hasBody && this.bodyComplete) connection.endBody(request.chunked);
  }

  private get clientIp(): string {
    return this.stream.session?.socket?.remoteAddress ?? 'unknown';
  }

  private count(bytes: number): void {
    if (this.seen) this.seen.record.bytesOut += bytes;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.seen?.end();
    // Answered before the whole request came: the client is told to stop sending.
    if (!this.bodyComplete) stopSending(this.stream);
  }

  /** The answer cannot be completed: the stream is reset (what the client has cannot be taken back). */
  private cut(why: string): void {
    this.done = true;
    this.release();
    this.seen?.end(why);
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  /** Gives up the upstream connection mid-exchange: it cannot be reused. */
  private release(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      connection.destroy();
      this.strategy.settle();
    }
  }
}
