import type { Socket } from 'node:net';
import type { Deadlines } from './deadlines.js';
import type { AdmittedRequest } from './request.js';

/** Why an upstream exchange failed; `code` is what the client's 502 names. */
export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string = code,
  ) {
    super(message);
  }
}

/** What an attempt's failure says of the connection it failed on (the keep-alive race, below). */
export interface FailedOn {
  /** The connection had carried an exchange before. */
  readonly reused: boolean;
  /** Bytes of the answer had arrived. */
  readonly answering: boolean;
}

/**
 * How long a pooled connection may sit idle: below the keep-alive timeout of our replicas
 * (Fastify's 72 s) and of the LB's own app, so the pool closes first and no request is sent on
 * a connection the other side is closing. (Servers that close sooner are met by the stale retry.)
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 30_000;

/** REPLICA_PROTOCOL: HTTP/1.1, or HTTP/2 cleartext with prior knowledge. */
export type UpstreamProtocol = 'http1' | 'h2c';

export type UpstreamTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export interface PoolOptions {
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  /** Until the answer's head arrives, and then between two pieces of its body. */
  readonly responseTimeoutMs: number;
  /** An idle pooled connection is closed after this (below the replicas' own keep-alive timeout). */
  readonly idleTimeoutMs: number;
}

/** An answer's head as a relay needs it, from any protocol. */
export interface ResponseHead {
  readonly status: number;
  /** [name, value, ...] as received. */
  readonly headers: readonly string[];
  /** The head is the whole answer (an HTTP/2 HEADERS frame that ended the stream: gRPC's trailers-only). */
  readonly whole?: boolean;
}

/** What one exchange hears from the upstream it was sent on. */
export interface AnswerHandler {
  /** Return 1 when the answer has no body whatever its headers say (HEAD). */
  onResponseHead(head: ResponseHead): number;
  onResponseBody(chunk: Buffer): void;
  /** Trailer fields ([name, value, ...]) after the body: HTTP/2 upstreams (gRPC's status) only. */
  onResponseTrailers?(trailers: readonly string[]): void;
  onResponseComplete(): void;
  onUpstreamError(error: UpstreamError): void;
  /** The upstream can take more request body (after a write returned false). */
  onUpstreamDrain(): void;
  /**
   * The replica switched protocols (101) for a request sent with `upgrade`: the socket is the
   * handler's now, with what the replica sent after the head (HTTP/1 upstreams only).
   */
  onSwitch?(head: ResponseHead, socket: Socket, rest: Buffer | undefined): void;
}

/** What the LB adds to a request on its way up, whatever the protocol. */
export interface Forwarding {
  /** X-Request-Id (forwarded requests only). */
  readonly id: string | undefined;
  /** Appended to X-Forwarded-For. */
  readonly clientIp: string;
  /** Tracing: the LB's span as the replica's parent, in place of the client's traceparent. */
  readonly traceparent: string | undefined;
  /** The client came over TLS (`X-Forwarded-Proto: https`). */
  readonly secure: boolean;
}

/**
 * What carries one exchange to an upstream: an HTTP/1 connection (one exchange at a time) or an
 * HTTP/2 stream on a shared session.
 */
export interface Carrier extends FailedOn {
  /**
   * Sends the request's head (for a bodiless request, the whole request); the answer's head must
   * arrive by `deadline` (ms epoch). `upgrade` asks for a tunnel.
   */
  send(
    handler: AnswerHandler,
    request: AdmittedRequest,
    forwarding: Forwarding,
    deadline: number,
    upgrade: boolean,
  ): void;
  /** A piece of the request body; false when the upstream cannot take more now (wait for onUpstreamDrain). */
  writeBody(chunk: Buffer, chunked: boolean): boolean;
  endBody(chunked: boolean): void;
  /** The client cannot take more of the answer: reading stops until `resume`. */
  pause(): void;
  resume(): void;
  /** The exchange is abandoned (the client left, or it failed over). */
  destroy(): void;
}

/** Told of a carrier for one exchange, or why there is none. */
export type Acquired = (error: UpstreamError | null, carrier?: Carrier) => void;

/**
 * Where attempts go: the connections to one upstream, whatever protocol they speak (HTTP/1's
 * `UpstreamPool`, HTTP/2's `H2cUpstream`).
 */
export interface Upstream {
  /** How the replica is spoken to: a gRPC call needs h2c. */
  readonly protocol: UpstreamProtocol;
  /** What a request to this upstream says in Host when the client gave none. */
  readonly authority: string;
  readonly options: PoolOptions;
  /**
   * Hands a carrier to `done` (a new connection when `fresh`); one that waits past `deadline` (ms
   * epoch) gets POOL_TIMEOUT. Returns what stops the wait.
   */
  acquire(done: Acquired, deadline: number, fresh: boolean): () => void;
  /** Closes idle connections and fails waiters; exchanges in flight finish. */
  close(): void;
}

/** Makes the connections to one upstream (the composition picks the protocol). */
export type UpstreamFactory = (target: UpstreamTarget, options: PoolOptions, deadlines: Deadlines) => Upstream;
