import { headerValue } from './header-list.js';
import type { AdmittedRequest } from './request.js';

/** Why an attempt at a replica got no answer, as the access log names it. */
/** Why a tunnel ended (lb_tunnels_closed_total{reason}). */
export type TunnelEnd = 'client' | 'replica' | 'error' | 'rehome' | 'shutdown' | 'idle';

export type AttemptFailure = 'refused' | 'reset' | 'timeout' | 'busy' | 'stale' | 'bad-response';

export interface Attempt {
  readonly replica: string;
  /** null: this attempt answered (or was the last, cut or abandoned). */
  failure: AttemptFailure | null;
}

/** Why the selection went past a replica in hash order although it had not tried it. */
export type PassOverReason = 'suspect' | 'ejected' | 'failing' | 'over-bound';

export interface PassedOver {
  readonly replica: string;
  readonly reason: PassOverReason;
}

/**
 * One request (or tunnel, or refused request) as the access log and its span see it, filled in
 * as it goes. Every field is always there (null when it does not apply): one schema for every line.
 */
export interface RequestRecord {
  event: 'request' | 'tunnel' | 'refused';
  /** When its head arrived (ms epoch). */
  readonly time: number;
  readonly client: string;
  method: string | null;
  /** Origin-form, query included (as nginx's $request_uri). */
  path: string | null;
  /** What the client got; null when the connection was cut before an answer. */
  status: number | null;
  /** Body bytes from the client (a tunnel: every byte the client sent through it). */
  bytesIn: number;
  /** Bytes to the client, head and body (a tunnel: every byte it received through it). */
  bytesOut: number;
  durationMs: number;
  requestId: string | null;
  /** Where the routing key came from (HASH_KEY source: `cookie:session`, ...; `random` for a generated id). */
  keySource: string | null;
  /** The ring's input for the key (an integer): never the raw key, which may be a secret. */
  routingId: string | null;
  replica: string | null;
  attempts: Attempt[];
  passedOver: PassedOver[];
  traceId: string | null;
  /** The LB's own error (the message it answered, or why it cut the connection). */
  error: string | null;
  /** Tunnels: which side closed it, or why the LB did (TunnelEnd). */
  closedBy: TunnelEnd | null;
  /** What the client spoke: HTTP/1.x or HTTP/2, over TLS or not. */
  protocol: 'h1' | 'h2';
  tls: boolean;
}

/** How a client came: its protocol, and whether over TLS. */
export interface Via {
  readonly protocol: 'h1' | 'h2';
  readonly tls: boolean;
}

export const VIA_H1: Via = { protocol: 'h1', tls: false };
export const VIA_H1_TLS: Via = { protocol: 'h1', tls: true };
export const VIA_H2: Via = { protocol: 'h2', tls: false };
export const VIA_H2_TLS: Via = { protocol: 'h2', tls: true };

/** Where records go (ACCESS_LOG); written off the forwarding path. */
export interface RequestLog {
  write(record: RequestRecord): void;
}

/** A sampled request's span (tracing on): it ends with the request's record. */
export interface RequestSpan {
  end(record: RequestRecord): void;
}

/** The trace context a forwarded request carries to its replica (tracing on). */
export interface RequestTrace {
  readonly traceId: string;
  /** What the replica receives as `traceparent`: the LB's span, or new ids flagged not sampled. */
  readonly traceparent: string;
  /** Only a request the sampler picked has a span: a left-out one costs its ids, nothing more. */
  readonly span: RequestSpan | undefined;
}

export interface RequestTracer {
  /** The request's trace: child of the client's `traceparent` in `headers` when it sent one. */
  begin(method: string, path: string, client: string, headers: readonly string[]): RequestTrace;
}

/** What a data plane observes its requests with; both undefined (the default) costs nothing per request. */
export interface Observers {
  readonly requestLog: RequestLog | undefined;
  readonly tracer: RequestTracer | undefined;
}

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

/** The trace id of the client's W3C `traceparent`, when it sent a valid one. */
export function traceIdOf(headers: readonly string[]): string | null {
  const traceparent = headerValue(headers, 'traceparent');
  if (traceparent === undefined) return null;
  const id = TRACEPARENT.exec(traceparent.trim())?.[1];
  return id === undefined || /^0+$/.test(id) ? null : id;
}

/** A new record for a request whose head arrived now. */
export function requestRecord(
  client: string,
  method: string | null,
  path: string | null,
  via: Via = VIA_H1,
): RequestRecord {
  return {
    event: 'request',
    time: Date.now(),
    client,
    method,
    path,
    status: null,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 0,
    requestId: null,
    keySource: null,
    routingId: null,
    replica: null,
    attempts: [],
    passedOver: [],
    traceId: null,
    error: null,
    closedBy: null,
    protocol: via.protocol,
    tls: via.tls,
  };
}

/** A request refused before forwarding (its head, when it had one), logged as it is answered. */
export function logRefusal(
  log: RequestLog | undefined,
  client: string,
  head: { readonly method: string; readonly path: string } | undefined,
  error: { readonly status: number; readonly message: string },
  bytesOut: number,
  via: Via,
): void {
  if (!log) return;
  const record = requestRecord(client, head?.method ?? null, head?.path ?? null, via);
  record.event = 'refused';
  record.status = error.status;
  record.bytesOut = bytesOut;
  record.error = error.message;
  log.write(record);
}

/**
 * The observation of a request that is logged or whose span was sampled; a left-out request
 * records nothing (undefined).
 */
export function observationOf(
  observers: Observers,
  client: string,
  request: Pick<AdmittedRequest, 'method' | 'path' | 'headers'>,
  trace: RequestTrace | undefined,
  via: Via,
): Observation | undefined {
  if (observers.requestLog === undefined && trace?.span === undefined) return undefined;
  return new Observation(observers, client, request.method, request.path, request.headers, trace, via);
}

/**
 * One request being observed: its record, its span, and the clock. Ends once: logged when its
 * answer is done (or cut); a tunnel's span ends at the 101, its line when the tunnel closes.
 */
export class Observation {
  readonly record: RequestRecord;
  private readonly span: RequestSpan | undefined;
  private readonly startedAt = performance.now();
  private ended = false;

  constructor(
    private readonly observers: Observers,
    client: string,
    method: string,
    path: string,
    headers: readonly string[],
    trace: RequestTrace | undefined,
    via: Via,
  ) {
    this.record = requestRecord(client, method, path, via);
    // A forwarded request's trace is the LB's (tracing on); otherwise the client's, when it sent one.
    this.record.traceId = trace === undefined ? traceIdOf(headers) : trace.traceId;
    this.span = trace?.span;
  }

  attempt(replica: string): void {
    this.record.attempts.push({ replica, failure: null });
    this.record.replica = replica;
  }

  attemptFailed(failure: AttemptFailure): void {
    const last = this.record.attempts.at(-1);
    if (last) last.failure = failure;
  }

  /** The answer is done, or the exchange ended without one (`error` says why). */
  end(error?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.record.error ??= error;
    this.record.durationMs = performance.now() - this.startedAt;
    this.span?.end(this.record);
    if (this.record.event !== 'tunnel') this.observers.requestLog?.write(this.record);
  }

  /** The replica switched protocols: the span ends with the handshake; the line waits for the tunnel's end. */
  switched(): void {
    this.record.event = 'tunnel';
    this.record.status = 101;
    this.end();
  }

  /** The tunnel closed: its line, with the bytes each way through it and its whole duration. */
  tunnelClosed(closedBy: TunnelEnd, bytesIn: number, bytesOut: number): void {
    const { record } = this;
    record.closedBy = closedBy;
    record.bytesIn = bytesIn;
    record.bytesOut = bytesOut;
    record.durationMs = performance.now() - this.startedAt;
    this.observers.requestLog?.write(record);
  }
}
