import type { Socket } from 'node:net';
import { monotonicMs } from '../../clock.js';
import type { LbError } from '../../contract/errors.js';
import { decimalOf, headerValue } from '../header-list.js';
import { type Observation, type Observers, observationOf, VIA_H1, VIA_H1_TLS } from '../observation.js';
import { type Attempts, forwardingOf, type RelayStrategy } from '../relay-strategy.js';
import type { AdmittedRequest } from '../request.js';
import type { Forwarding, ResponseHead, Upstream, UpstreamError } from '../upstream.js';
import { type LegOwner, UpstreamLeg } from '../upstream-leg.js';
import { type Framing, failureResponse, responseHead, switchingHead, trailerSection } from './wire.js';

/** The client side of a relay: where the answer goes, in order, on one connection. */
export interface ClientSide {
  readonly clientIp: string;
  /** The client came over TLS. */
  readonly secure?: boolean;
  /** The access log and tracer of the data plane (both undefined by default). */
  readonly observers: Observers;
  /**
   * Writes to the client; false when its buffer is full (wait for `onClientDrain`). `more`: more
   * of this answer follows in this turn of the event loop, so the client side corks its socket
   * until the turn ends (an answer's head and body pieces leave in one writev).
   */
  write(data: string | Buffer, more?: boolean): boolean;
  /** The answer is complete; `keepAlive` false closes the connection after it. */
  answered(keepAlive: boolean): void;
  /** Whether the connection stays open after this answer (client asked, LB not shutting down). */
  keepsAlive(requestKeepAlive: boolean): boolean;
  /** The answer cannot be completed (the upstream broke off mid-stream): cut the connection. */
  abort(): void;
  /** Stop / start reading the client while the upstream cannot take more body. */
  pauseBody(): void;
  resumeBody(): void;
  /** The replica switched protocols: writes its 101 `head`, then gives up the socket for a tunnel. */
  switchProtocols(head: string): { socket: Socket; rest: Buffer | undefined };
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Answers up to this size (declared by Content-Length) are held until whole, then sent in one write. */
const HOLD_LIMIT = 64 * 1024;

/**
 * One admitted request relayed over a pooled raw socket and its answer relayed back, with
 * backpressure both ways: the request's body is buffered (in one place) until a connection is
 * ready, a small sized answer is held until whole, a large one streamed. Where the request goes,
 * and what happens when the upstream fails before answering, is its strategy's: `Exchange`
 * (replicas, with failover) or `OwnRouteStrategy` (the LB's own routes).
 */
export class Relay implements LegOwner, Attempts {
  /** X-Served-By of the answer: the replica of the current attempt. */
  private servedBy: string | undefined;
  private readonly leg: UpstreamLeg;
  private done = false;
  /** How the answer is relayed: undefined until its head arrives; 'discard' when answered in its place. */
  private mode: 'buffer' | 'relay' | 'discard' | undefined;
  /**
   * A small sized answer is held until whole (an upstream breaking it off gets a clean error), as
   * latin1 text, one character a byte: the head and the body so far, written in one string write
   * (the handle copies it into its own storage; no Buffer is made and filled for it).
   */
  private held: string | undefined;
  private framing: Framing = 'none';
  private keepAlive = false;
  /** Trailer fields from an HTTP/2 upstream: they end a chunked answer. */
  private trailers: readonly string[] | undefined;
  private up: Forwarding | undefined;
  /** The access log's record and the span of this request; undefined when neither is on. */
  readonly seen: Observation | undefined;

  constructor(
    private readonly client: ClientSide,
    private readonly request: AdmittedRequest,
    private readonly strategy: RelayStrategy,
  ) {
    this.leg = new UpstreamLeg(this, request);
    this.seen = observationOf(
      client.observers,
      client.clientIp,
      request,
      strategy.trace,
      client.secure ? VIA_H1_TLS : VIA_H1,
    );
    if (this.seen) strategy.observe?.(this.seen);
  }

  /** The request asks for a tunnel its strategy can open (a forwarded Upgrade request). */
  get canSwitch(): boolean {
    return this.strategy.canSwitch;
  }

  /** Its turn came (earlier requests on the connection are answered): send it. */
  start(): void {
    this.strategy.start(this);
  }

  /** The replica answered 101: the handshake is relayed, and the two sockets become a tunnel. */
  onSwitch(head: ResponseHead, socket: Socket, fromReplica: Buffer | undefined): void {
    this.leg.detach();
    this.strategy.settle();
    this.done = true;
    this.seen?.switched();
    const client = this.client.switchProtocols(switchingHead(head.headers, this.strategy.id!, this.servedBy!));
    this.strategy.switched?.({
      client: client.socket,
      upstream: socket,
      fromClient: client.rest,
      fromReplica,
      seen: this.seen,
    });
  }

  /** A piece of the request body from the client. */
  onRequestBody(chunk: Buffer): void {
    // Counted until the answer is done: the line may be formatted later, and must not change meanwhile.
    if (this.seen && !this.done) this.seen.record.bytesIn += chunk.length;
    this.leg.body(chunk);
  }

  onRequestComplete(): void {
    this.leg.complete();
  }

  /** The client's connection closed: stop asking the upstream for an answer nobody will read. */
  cancel(): void {
    this.leg.stopWaiting();
    this.release();
    this.done = true;
    this.seen?.end('the client closed the connection');
  }

  /** The client timed out or broke the protocol mid-exchange: answer if nothing was sent, else cut. */
  fail(error: LbError): void {
    if (this.done) return;
    this.release();
    if (this.mode === undefined || this.mode === 'buffer') this.reply(error, false);
    else this.cut(error.message);
  }

  onClientDrain(): void {
    this.leg.resume();
  }

  onUpstreamDrain(): void {
    this.client.resumeBody();
  }

  onResponseHead(head: ResponseHead): number {
    const refusal = this.strategy.accept(head.status);
    if (refusal) {
      this.mode = 'discard';
      this.reply(refusal);
      return 0;
    }
    const { request } = this;
    const status = head.status;
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
    this.keepAlive = this.framing !== 'close' && this.leg.requestComplete && this.client.keepsAlive(request.keepAlive);
    if (this.seen) this.seen.record.status = status;
    const text = responseHead({
      status,
      headers: head.headers,
      id: this.strategy.id,
      servedBy: this.servedBy,
      framing: this.framing,
      keepAlive: this.keepAlive,
    });
    if (length !== undefined && length > 0 && length <= HOLD_LIMIT) {
      this.mode = 'buffer';
      this.held = text;
    } else {
      this.mode = 'relay';
      this.send(text, true);
    }
    return request.method === 'HEAD' ? 1 : 0;
  }

  onResponseBody(chunk: Buffer): void {
    if (this.mode === 'buffer') {
      if (this.held !== undefined) this.held += chunk.toString('latin1');
      return;
    }
    if (this.mode !== 'relay' || this.done) return;
    let flushed: boolean;
    if (this.framing === 'chunked') {
      this.send(`${chunk.length.toString(16)}\r\n`, true);
      this.send(chunk, true);
      flushed = this.send('\r\n', true);
    } else {
      flushed = this.send(chunk, true);
    }
    // Backpressure: stop reading the upstream until the client drains.
    if (!flushed) this.leg.pause();
  }

  onResponseComplete(): void {
    this.strategy.settle();
    // The request was not sent whole: the connection is mid-request and can never be reused.
    if (!this.leg.requestComplete) this.release();
    if (this.done) return;
    if (this.mode === 'buffer' && this.held !== undefined) {
      const whole = this.held;
      this.held = undefined;
      this.send(whole);
      this.finish(this.keepAlive);
    } else if (this.mode === 'relay') {
      if (this.framing === 'chunked') this.send(trailerSection(this.trailers));
      this.finish(this.keepAlive);
    }
  }

  /** An HTTP/2 upstream's trailers: a chunked answer carries them; other framings have no place for them. */
  onResponseTrailers(trailers: readonly string[]): void {
    this.trailers = trailers;
  }

  onUpstreamError(error: UpstreamError): void {
    const connection = this.leg.detach();
    this.strategy.settle();
    if (this.done || this.mode === 'discard') return;
    if (this.mode === 'relay') {
      this.cut(`the upstream broke off its answer: ${error.code}`); // what the client has cannot be taken back
    } else if (this.mode === 'buffer') {
      this.held = undefined;
      this.reply(this.strategy.brokeOff(error));
    } else {
      this.strategy.lost(error, connection, this);
    }
  }

  /** Writes to the client (see ClientSide.write), counted for the access log. */
  private send(data: string | Buffer, more?: boolean): boolean {
    if (this.seen) this.seen.record.bytesOut += data.length; // heads are latin1: a character a byte
    return this.client.write(data, more);
  }

  continueIfAsked(): void {
    if (this.request.expectsContinue) this.send(CONTINUE);
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
    this.client.pauseBody();
  }

  attempt(
    upstream: Upstream,
    servedBy: string | undefined,
    fresh = false,
    deadline = monotonicMs() + upstream.options.responseTimeoutMs,
  ): void {
    this.servedBy = servedBy;
    this.leg.acquire(upstream, fresh, deadline, this.canSwitch);
  }

  reply(error: LbError, keepAlive = true, namesReplica = true): void {
    const { id } = this.strategy;
    const servedBy = namesReplica ? this.servedBy : undefined;
    const lbHeaders = id !== undefined ? ['x-request-id', id, ...(servedBy ? ['x-served-by', servedBy] : [])] : [];
    const alive = keepAlive && this.leg.requestComplete && this.client.keepsAlive(this.request.keepAlive);
    if (this.seen) {
      this.seen.record.status = error.status;
      this.seen.record.error = error.message;
    }
    this.send(failureResponse(error, lbHeaders, alive));
    this.finish(alive);
  }

  get forwarding(): Forwarding {
    this.up ??= forwardingOf(this.strategy, this.client.clientIp, this.client.secure === true);
    return this.up;
  }

  private finish(keepAlive: boolean): void {
    if (this.done) return;
    this.done = true;
    this.seen?.end();
    this.client.answered(keepAlive);
  }

  /** The connection is cut mid-answer (`why`, for the access log). */
  private cut(why: string): void {
    this.done = true;
    this.release();
    this.seen?.end(why);
    this.client.abort();
  }

  /** Gives up the upstream connection mid-exchange: it cannot be reused. */
  private release(): void {
    if (this.leg.release()) this.strategy.settle();
  }
}

function contentLengthOf(headers: readonly string[]): number | undefined {
  const length = headerValue(headers, 'content-length');
  return length === undefined ? undefined : decimalOf(length);
}
