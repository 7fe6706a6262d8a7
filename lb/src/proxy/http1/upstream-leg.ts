import type { AdmittedRequest } from '../request.js';
import type { Upstream } from '../upstream.js';
import { UpstreamPool } from './pool.js';
import type { ResponseHandler, UpstreamConnection } from './upstream-connection.js';

/** What an upstream leg needs from the relay it serves (whatever protocol the client speaks). */
export interface LegOwner extends ResponseHandler {
  /** The answer is done or abandoned: a connection that arrives now goes back destroyed. */
  readonly finished: boolean;
  /** The request head to send on `connection` (its authority is the default Host). */
  headFor(connection: UpstreamConnection): string;
  /** The connection cannot take more body: the client waits until `onUpstreamDrain`. */
  pauseClient(): void;
}

/**
 * The upstream side of one relayed request, the same for an HTTP/1 client and an HTTP/2 stream: a
 * connection from an HTTP/1 pool by the attempt's deadline, the request's head and body on it (the
 * body held in one place until the connection is ready), and giving the connection up.
 */
export class UpstreamLeg {
  private connection: UpstreamConnection | undefined;
  /** Body received before a connection was ready. */
  private pending: Buffer[] | undefined;
  private cancelWait: (() => void) | undefined;
  /** The current attempt's deadline (ms epoch): waiting for a connection and for the answer's head both count. */
  private attemptDeadline = 0;
  private bodyComplete: boolean;

  constructor(
    private readonly owner: LegOwner,
    private readonly request: AdmittedRequest,
  ) {
    this.bodyComplete = !request.hasBody;
  }

  get deadline(): number {
    return this.attemptDeadline;
  }

  /** The client's whole request has arrived. */
  get requestComplete(): boolean {
    return this.bodyComplete;
  }

  /** A connection from `upstream` (a new one when `fresh`), then the request on it; `upgrade` asks for a tunnel. */
  acquire(upstream: Upstream, fresh: boolean, deadline: number, upgrade: boolean): void {
    const pool = http1Pool(upstream);
    this.attemptDeadline = deadline;
    this.cancelWait = pool.acquire(
      (error, connection) => {
        this.cancelWait = undefined;
        if (this.owner.finished) connection?.destroy();
        else if (error) this.owner.onUpstreamError(error);
        else this.attach(connection!, upgrade);
      },
      deadline,
      fresh,
    );
  }

  /** A piece of the request body: to the connection, or held until one is ready. */
  body(chunk: Buffer): void {
    if (this.owner.finished && this.connection === undefined) return;
    if (this.connection === undefined) {
      this.pending ??= [];
      this.pending.push(chunk);
      return;
    }
    if (!this.connection.writeBody(chunk, this.request.chunked)) this.owner.pauseClient();
  }

  complete(): void {
    this.bodyComplete = true;
    if (this.request.hasBody) this.connection?.endBody(this.request.chunked);
  }

  /** The client cannot take more of the answer: the connection stops reading until it can. */
  pause(): void {
    this.connection?.pause();
  }

  resume(): void {
    this.connection?.resume();
  }

  /** The connection failed, or left for a tunnel: it is the exchange's no more. */
  detach(): UpstreamConnection | undefined {
    const connection = this.connection;
    this.connection = undefined;
    return connection;
  }

  /** The client left while the request waited for a connection. */
  stopWaiting(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
  }

  /** Gives up the connection mid-exchange (it cannot be reused); true when there was one. */
  release(): boolean {
    const connection = this.detach();
    connection?.destroy();
    return connection !== undefined;
  }

  private attach(connection: UpstreamConnection, upgrade: boolean): void {
    this.connection = connection;
    const { request } = this;
    connection.send(this.owner, this.owner.headFor(connection), !request.hasBody, this.attemptDeadline, upgrade);
    const pending = this.pending;
    this.pending = undefined;
    if (pending) for (const chunk of pending) this.body(chunk);
    if (request.hasBody && this.bodyComplete) connection.endBody(request.chunked);
  }
}

/** Relays send over HTTP/1 pools (the only kind this data plane makes for them). */
function http1Pool(upstream: Upstream): UpstreamPool {
  if (upstream instanceof UpstreamPool) return upstream;
  throw new Error(`an HTTP/1 upstream leg cannot send over ${upstream.constructor.name}`);
}
