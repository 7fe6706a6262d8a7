import { LbError } from '../../contract/errors.js';
import type { Relay } from './relay.js';

/** A request parsed (or refused) and waiting for its turn to be answered. */
export interface Queued {
  /** What answers it; its body goes there as it arrives, started or not. */
  relay: Relay | undefined;
  /** Refused before forwarding: answered with this error, then the connection closes. */
  refusal: LbError | undefined;
  /** What the refused request's head said, when it had one (the access log). */
  refusedHead?: { readonly method: string; readonly path: string } | undefined;
  /** Its turn came. */
  started: boolean;
  /** Began after shutdown did: answered with `Connection: close`. */
  afterShutdown: boolean;
}

/** Who answers a refused request when its turn comes. */
export interface Refuser {
  refuse(error: LbError, head?: { readonly method: string; readonly path: string }): void;
}

/**
 * The requests of one connection in order (HTTP/1.1 pipelining, as nginx and HAProxy answer it):
 * the first is being answered, the rest wait; the request being received may be one of them
 * (its head arrived) or not yet in line (its head is still coming).
 */
export class Pipeline {
  private readonly queue: Queued[] = [];
  /** The request being received. */
  private receiving: Queued | undefined;

  constructor(private readonly refuser: Refuser) {}

  /** Nothing being received and nothing to answer. */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.receiving === undefined;
  }

  get isReceiving(): boolean {
    return this.receiving !== undefined;
  }

  /** Requests in line (the one being answered included). */
  get length(): number {
    return this.queue.length;
  }

  /** The request being answered. */
  get answering(): Queued | undefined {
    return this.queue[0];
  }

  /** A request's first byte. */
  begin(afterShutdown: boolean): void {
    this.receiving = { relay: undefined, refusal: undefined, refusedHead: undefined, started: false, afterShutdown };
  }

  /** The request being received had its head read: `relay` answers it, in its place in line (now when first). */
  enqueue(relay: Relay): void {
    const queued = this.receiving;
    if (!queued) return;
    queued.relay = relay;
    this.line(queued);
  }

  /** The request being received had its head read, and is refused with `refusal` in its turn. */
  enqueueRefusal(refusal: LbError, head: { readonly method: string; readonly path: string }): void {
    const queued = this.receiving;
    if (!queued) return;
    queued.refusal = refusal;
    queued.refusedHead = head;
    this.line(queued);
  }

  private line(queued: Queued): void {
    this.queue.push(queued);
    if (this.queue.length === 1) this.startNext();
  }

  /** A piece of the body of the request being received. */
  body(chunk: Buffer): void {
    this.receiving?.relay?.onRequestBody(chunk);
  }

  /** The request being received is whole. */
  complete(): void {
    const queued = this.receiving;
    this.receiving = undefined;
    queued?.relay?.onRequestComplete();
  }

  /** The request being answered was answered: it leaves the line. */
  shift(): void {
    this.queue.shift();
  }

  /** The next request's turn, if it has not come yet. */
  startNext(): void {
    const queued = this.queue[0];
    if (!queued || queued.started) return;
    queued.started = true;
    if (queued.relay) queued.relay.start();
    else this.refuser.refuse(queued.refusal ?? new LbError('BAD_REQUEST', 'Bad request'), queued.refusedHead);
  }

  /**
   * Ends the request being received with `error`: being answered, it gets the error (or is cut if
   * its answer began); waiting its turn, it gets it in turn, its body so far dropped; not yet in
   * line, the error takes its place.
   */
  failReceiving(error: LbError): void {
    const receiving = this.receiving;
    this.receiving = undefined;
    if (receiving?.started && receiving.relay) {
      receiving.relay.fail(error);
      return;
    }
    if (receiving && this.queue.includes(receiving)) {
      receiving.relay?.cancel();
      receiving.relay = undefined;
      receiving.refusal = error;
    } else {
      this.queue.push({
        relay: undefined,
        refusal: error,
        refusedHead: undefined,
        started: false,
        afterShutdown: true,
      });
    }
    if (this.queue.length === 1) this.startNext();
  }

  /** The request being received is dropped: the connection reads no more (it lingers). */
  dropReceiving(): void {
    this.receiving = undefined;
  }

  /** The connection left HTTP for a tunnel: its one request in line was answered by the switch. */
  leave(): void {
    this.queue.length = 0;
    this.receiving = undefined;
  }

  /** The connection is gone: every request in line is cancelled. */
  clear(): void {
    for (const queued of this.queue) queued.relay?.cancel();
    this.queue.length = 0;
    this.receiving = undefined;
  }
}
