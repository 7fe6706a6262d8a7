import type { Socket } from 'node:net';
import type { LbError } from '../contract/errors.js';
import type { Observation, Observers, RequestTrace } from './observation.js';
import type { FailedOn, Forwarding, Upstream, UpstreamError } from './upstream.js';

/** Who sent a request, as a strategy sees it (an HTTP/1 connection or an HTTP/2 stream). */
export interface RequestClient {
  readonly clientIp: string;
  /** The access log and tracer of the data plane. */
  readonly observers: Observers;
}

/** What a switched connection is made of, as the relay that switched it hands it over. */
export interface SwitchedSockets {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request, read with the handshake. */
  readonly fromClient: Buffer | undefined;
  /** Bytes the replica sent after its 101, read with the handshake. */
  readonly fromReplica: Buffer | undefined;
  readonly seen: Observation | undefined;
}

/** What a relay offers the strategy that decides where its request goes. */
export interface Attempts {
  /** The access log's record and the span of this request; undefined when neither is on. */
  readonly seen: Observation | undefined;
  /** The current attempt's deadline (ms epoch). */
  readonly deadline: number;
  /** The request can be sent again as it was (no body, or its body kept whole: a small gRPC call's). */
  readonly replayable: boolean;
  /**
   * An attempt: a connection from `upstream` (a new one when `fresh`), then the request on it, all by
   * `deadline` (by default the pool's response timeout from now). `servedBy` names the replica in
   * the answer (X-Served-By).
   */
  attempt(upstream: Upstream, servedBy: string | undefined, fresh?: boolean, deadline?: number): void;
  /** The contract's error as the whole answer, naming the replica (X-Served-By) when `namesReplica`. */
  reply(error: LbError, keepAlive?: boolean, namesReplica?: boolean): void;
  /** Sends `100 Continue` when the client waits for it before its body. */
  continueIfAsked(): void;
  /**
   * The request's key moved to another replica while it was open (HTTP/2 streams): it is refused
   * (safe to retry) if no answer byte went out, else ended.
   */
  moveAway?(): void;
}

/**
 * Where a relayed request goes and what happens when that fails: the replicas with failover
 * (`Exchange`) or the LB's own app (`OwnRouteStrategy`). The relay carries the bytes; the strategy
 * decides; each keeps its own state.
 */
export interface RelayStrategy {
  /** X-Request-Id sent up and back (forwarded requests only). */
  readonly id: string | undefined;
  /** The request asks for a tunnel this strategy can open (a forwarded Upgrade request). */
  readonly canSwitch: boolean;
  /** The request's trace context (tracing on, forwarded requests only). */
  readonly trace: RequestTrace | undefined;
  /** The request is observed (logged or sampled): what the strategy knows of it goes into the record. */
  observe?(seen: Observation): void;
  /** Its turn came (earlier requests on the connection are answered): the first attempt, or an error. */
  start(relay: Attempts): void;
  /** The answer's head arrived: undefined relays it; an error answers in its place. */
  accept(status: number): LbError | undefined;
  /** The upstream failed before any of its answer reached the client: try again elsewhere, or answer an error. */
  lost(error: UpstreamError, on: FailedOn | undefined, relay: Attempts): void;
  /** The error for an answer the upstream broke off while it was held. */
  brokeOff(error: UpstreamError): LbError;
  /** The attempt is over (answered, failed or abandoned). */
  settle(): void;
  /** The replica switched protocols: the two sockets become a tunnel. */
  switched?(sockets: SwitchedSockets): void;
}

/** What the LB adds to a request its strategy sends up, for a client at `clientIp` (over TLS when `secure`). */
export function forwardingOf(strategy: RelayStrategy, clientIp: string, secure: boolean): Forwarding {
  return { id: strategy.id, clientIp, traceparent: strategy.trace?.traceparent, secure };
}
