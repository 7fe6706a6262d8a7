import type { AdmittedRequest } from './request.js';
import type { AnswerHandler, Carrier, Forwarding, Upstream } from './upstream.js';

/** What an upstream leg needs from the relay it serves (whatever protocol the client speaks). */
export interface LegOwner extends AnswerHandler {
  /** The answer is done or abandoned: a carrier that arrives now goes back destroyed. */
  readonly finished: boolean;
  /** What the LB adds to the request on its way up. */
  readonly forwarding: Forwarding;
  /** The upstream cannot take more body: the client waits until `onUpstreamDrain`. */
  pauseClient(): void;
}

/**
 * The upstream side of one relayed request, the same for an HTTP/1 client and an HTTP/2 stream,
 * and for either kind of upstream: a carrier (an HTTP/1 connection or an HTTP/2 stream) by the
 * attempt's deadline, the request's head and body on it (the body held in one place until the
 * carrier is ready), and giving it up.
 */
/** A kept request body (for a replay) at most this large: a unary gRPC call's message fits; a long stream's does not. */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

export class UpstreamLeg {
  private carrier: Carrier | undefined;
  /** The body sent so far, kept for a replay on another replica; undefined once past the limit (or not kept). */
  private kept: Buffer[] | undefined;
  private keptBytes = 0;
  /** An attempt was sent before: a new one starts from the kept body. */
  private sent = false;
  /** Body received before a carrier was ready. */
  private pending: Buffer[] | undefined;
  private cancelWait: (() => void) | undefined;
  /** The current attempt's deadline (ms epoch): waiting for a carrier and for the answer's head both count. */
  private attemptDeadline = 0;
  private bodyComplete: boolean;

  constructor(
    private readonly owner: LegOwner,
    private readonly request: AdmittedRequest,
    /** Keep the body (up to REPLAY_LIMIT_BYTES) so that the request can be sent again elsewhere. */
    keepBody = false,
  ) {
    this.bodyComplete = !request.hasBody;
    if (keepBody && request.hasBody) this.kept = [];
  }

  /** The request can be sent again as it was: no body, or its body kept whole so far. */
  get replayable(): boolean {
    return !this.request.hasBody || this.kept !== undefined;
  }

  get deadline(): number {
    return this.attemptDeadline;
  }

  /** The client's whole request has arrived. */
  get requestComplete(): boolean {
    return this.bodyComplete;
  }

  /** A carrier from `upstream` (a new connection when `fresh`), then the request on it; `upgrade` asks for a tunnel. */
  acquire(upstream: Upstream, fresh: boolean, deadline: number, upgrade: boolean): void {
    this.attemptDeadline = deadline;
    this.cancelWait = upstream.acquire(
      (error, carrier) => {
        this.cancelWait = undefined;
        if (this.owner.finished) carrier?.destroy();
        else if (error) this.owner.onUpstreamError(error);
        else this.attach(carrier!, upgrade);
      },
      deadline,
      fresh,
    );
  }

  /** A piece of the request body: to the carrier, or held until one is ready. */
  body(chunk: Buffer): void {
    if (this.owner.finished && this.carrier === undefined) return;
    this.keep(chunk);
    if (this.carrier === undefined) {
      this.pending ??= [];
      this.pending.push(chunk);
      return;
    }
    this.write(chunk);
  }

  complete(): void {
    this.bodyComplete = true;
    if (this.request.hasBody) this.carrier?.endBody(this.request.chunked);
  }

  /** The client cannot take more of the answer: the carrier stops reading until it can. */
  pause(): void {
    this.carrier?.pause();
  }

  resume(): void {
    this.carrier?.resume();
  }

  /** The carrier failed, or left for a tunnel: it is the exchange's no more. */
  detach(): Carrier | undefined {
    const carrier = this.carrier;
    this.carrier = undefined;
    return carrier;
  }

  /** The client left while the request waited for a carrier. */
  stopWaiting(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
  }

  /** Gives up the carrier mid-exchange (it cannot be reused); true when there was one. */
  release(): boolean {
    const carrier = this.detach();
    carrier?.destroy();
    return carrier !== undefined;
  }

  private attach(carrier: Carrier, upgrade: boolean): void {
    this.carrier = carrier;
    const { request } = this;
    carrier.send(this.owner, request, this.owner.forwarding, this.attemptDeadline, upgrade);
    // A replay starts from the body kept (which includes what arrived while no carrier was ready).
    const pending = this.sent ? this.kept : this.pending;
    this.sent = true;
    this.pending = undefined;
    if (pending) for (const chunk of pending) this.write(chunk);
    if (request.hasBody && this.bodyComplete) carrier.endBody(request.chunked);
  }

  private write(chunk: Buffer): void {
    if (!this.carrier!.writeBody(chunk, this.request.chunked)) this.owner.pauseClient();
  }

  private keep(chunk: Buffer): void {
    if (this.kept === undefined) return;
    this.keptBytes += chunk.length;
    if (this.keptBytes > REPLAY_LIMIT_BYTES) this.kept = undefined;
    else this.kept.push(chunk);
  }
}
