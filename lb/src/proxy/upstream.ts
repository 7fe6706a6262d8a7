import type { Deadlines } from './deadlines.js';

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

export type UpstreamTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export interface PoolOptions {
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  /** Until the answer's head arrives, and then between two pieces of its body. */
  readonly responseTimeoutMs: number;
  /** An idle pooled connection is closed after this (below the replicas' own keep-alive timeout). */
  readonly idleTimeoutMs: number;
}

/**
 * Where attempts go: connections to one upstream, whatever protocol they speak. A relay takes the
 * kind its protocol makes (HTTP/1's `UpstreamPool`); the strategies only pass it on.
 */
export interface Upstream {
  /** What a request to this upstream says in Host when the client gave none. */
  readonly authority: string;
  readonly options: PoolOptions;
  /** Closes idle connections and fails waiters; connections in use finish their exchange. */
  close(): void;
}

/** Makes the connections to one upstream (the composition picks the protocol). */
export type UpstreamFactory = (target: UpstreamTarget, options: PoolOptions, deadlines: Deadlines) => Upstream;
