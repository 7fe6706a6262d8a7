import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { monotonicMs } from '../../clock.js';
import { LbError } from '../../contract/errors.js';
import { type Observation, type Observers, observationOf, VIA_H2, VIA_H2_TLS, type Via } from '../observation.js';
import { type Attempts, forwardingOf, type RelayStrategy } from '../relay-strategy.js';
import type { AdmittedRequest } from '../request.js';
import type { Forwarding, ResponseHead, Upstream, UpstreamError } from '../upstream.js';
import { type LegOwner, UpstreamLeg } from '../upstream-leg.js';
import {
  GRPC,
  grpcFailure,
  grpcStatusOf,
  grpcTrailers,
  h2Failure,
  h2ResponseHeaders,
  h2Trailers,
  stopSending,
} from './responses.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = constants;

/** How a stream's client came: HTTP/2, over TLS or not. */
export function viaOf(stream: ServerHttp2Stream): Via {
  return stream.session?.encrypted === true ? VIA_H2_TLS : VIA_H2;
}

/**
 * One HTTP/2 stream relayed to a replica and its answer back: over an HTTP/1 pool (translated, as
 * nginx and HAProxy do), or as a stream of an h2c session, trailers and all. Flow control works
 * both ways: the stream is paused while the replica cannot take more body, the replica's side
 * while the stream's window is full. Where it goes and what a failure does is its strategy's,
 * exactly as for an HTTP/1 request.
 */
export class StreamRelay implements LegOwner, Attempts {
  readonly seen: Observation | undefined;
  private servedBy: string | undefined;
  private readonly leg: UpstreamLeg;
  private done = false;
  /** How the answer goes: undefined until its head arrives; 'discard' when answered in its place. */
  private mode: 'relay' | 'discard' | undefined;
  /** The attempt's upstream speaks h2c: its answer may end with trailers (gRPC's status). */
  private h2c = false;
  /** The answer ends with trailers (sent once its body is out): the upstream's, or a gRPC failure's. */
  private trailers: OutgoingHttpHeaders | undefined;
  private up: Forwarding | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly request: AdmittedRequest,
    private readonly strategy: RelayStrategy,
    observers: Observers,
    private readonly clientIp: string,
    /** A gRPC call: errors are gRPC statuses in trailers. */
    private readonly grpc: boolean,
  ) {
    // A gRPC call's body is kept (up to a bound) so that it can fail over before any answer.
    this.leg = new UpstreamLeg(this, request, grpc);
    this.seen = observationOf(observers, clientIp, request, strategy.trace, viaOf(stream));
    if (this.seen) strategy.observe?.(this.seen);
  }

  get deadline(): number {
    return this.leg.deadline;
  }

  get replayable(): boolean {
    return this.leg.replayable;
  }

  get finished(): boolean {
    return this.done;
  }

  pauseClient(): void {
    this.stream.pause();
  }

  start(): void {
    this.strategy.start(this);
  }

  // ---- the client's stream (the front wires its events here)

  onRequestBody(chunk: Buffer): void {
    if (this.seen && !this.done) this.seen.record.bytesIn += chunk.length;
    this.leg.body(chunk);
  }

  onRequestComplete(): void {
    this.leg.complete();
  }

  /** The stream can take more of the answer. */
  onClientDrain(): void {
    this.leg.resume();
  }

  /** The client reset or closed the stream before its answer was done. */
  cancel(): void {
    if (this.done) return;
    this.leg.stopWaiting();
    this.release();
    this.done = true;
    this.seen?.end('the client closed the stream');
  }

  // ---- Attempts, for the strategy

  attempt(upstream: Upstream, servedBy: string | undefined, fresh = false, deadline?: number): void {
    this.servedBy = servedBy;
    this.h2c = upstream.protocol === 'h2c';
    if (this.grpc && servedBy !== undefined && !this.h2c) {
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
    this.leg.acquire(upstream, fresh, deadline ?? monotonicMs() + upstream.options.responseTimeoutMs, false);
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

  /**
   * The key moved to another replica: a stream with no answer yet is refused (REFUSED_STREAM: the
   * client may send it again, and it reaches the new owner); one whose answer began is ended, a
   * gRPC call with UNAVAILABLE.
   */
  moveAway(): void {
    if (this.done) return;
    if (this.stream.headersSent) {
      this.cut('its key moved to another replica', `The key moved from replica ${this.servedBy}: call again`);
      return;
    }
    this.leg.stopWaiting();
    this.release();
    this.done = true;
    this.seen?.end('its key moved to another replica');
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_REFUSED_STREAM);
  }

  // ---- AnswerHandler, for the upstream

  onResponseHead(head: ResponseHead): number {
    const refusal = this.strategy.accept(head.status);
    if (refusal) {
      this.mode = 'discard';
      this.reply(refusal);
      return 0;
    }
    const { request } = this;
    const bodiless = head.whole === true || request.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (this.seen) this.seen.record.status = head.status;
    this.mode = 'relay';
    if (!this.done && !this.stream.destroyed) {
      // From an h2c upstream, the stream ends with its trailers (or none) once the body is out.
      const waitForTrailers = this.h2c && !bodiless;
      if (waitForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers ?? {}));
      this.stream.respond(h2ResponseHeaders(head.status, head.headers, this.strategy.id, this.servedBy), {
        endStream: bodiless,
        waitForTrailers,
      });
    }
    return request.method === 'HEAD' ? 1 : 0;
  }

  onResponseBody(chunk: Buffer): void {
    if (this.mode !== 'relay' || this.done || this.stream.destroyed) return;
    this.count(chunk.length);
    // Flow control: the replica's socket waits while the stream's window (and buffer) is full.
    if (!this.stream.write(chunk)) this.leg.pause();
  }

  onResponseComplete(): void {
    this.strategy.settle();
    if (!this.leg.requestComplete) this.release();
    if (this.done || this.mode !== 'relay') return;
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
    this.finish();
  }

  onResponseTrailers(trailers: readonly string[]): void {
    this.trailers = h2Trailers(trailers);
  }

  onUpstreamError(error: UpstreamError): void {
    const connection = this.leg.detach();
    this.strategy.settle();
    if (this.done || this.mode === 'discard') return;
    if (this.mode === 'relay')
      this.cut(`the upstream broke off its answer: ${error.code}`, this.strategy.brokeOff(error).message);
    else this.strategy.lost(error, connection, this);
  }

  onUpstreamDrain(): void {
    this.stream.resume();
  }

  // ---- internals

  get forwarding(): Forwarding {
    this.up ??= forwardingOf(this.strategy, this.clientIp, this.stream.session?.encrypted === true);
    return this.up;
  }

  private count(bytes: number): void {
    if (this.seen) this.seen.record.bytesOut += bytes;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.seen?.end();
    // Answered before the whole request came: the client is told to stop sending.
    if (!this.leg.requestComplete) stopSending(this.stream);
  }

  /**
   * The answer cannot be completed: what the client has cannot be taken back. A gRPC answer still
   * waiting for its trailers ends with UNAVAILABLE and why; any other stream is reset.
   */
  private cut(why: string, grpcMessage?: string): void {
    this.done = true;
    this.release();
    this.seen?.end(why);
    if (this.stream.destroyed) return;
    if (grpcMessage !== undefined && this.grpc && this.h2c && this.stream.headersSent && !this.stream.writableEnded) {
      this.trailers = grpcTrailers(GRPC.UNAVAILABLE, grpcMessage);
      this.stream.end();
    } else this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  /** Gives up the upstream connection mid-exchange: it cannot be reused. */
  private release(): void {
    if (this.leg.release()) this.strategy.settle();
  }
}
