import { monotonicMs } from '../clock.js';
import { LbError, notOnReplicas } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RequestKey } from '../routing/index.js';
import { isGrpc } from './header-list.js';
import type { Movable } from './moved-keys.js';
import type { AttemptFailure, Observation, PassedOver, RequestTrace } from './observation.js';
import type { Attempts, RelayStrategy, RequestClient, SwitchedSockets } from './relay-strategy.js';
import type { AdmittedRequest } from './request.js';
import { requestIdFrom } from './request-id.js';
import type { TunnelOpening } from './tunnel.js';
import type { FailedOn, Upstream, UpstreamError } from './upstream.js';

/** How a request's replica is chosen: its key, and the replica for it on the current routing table. */
export interface ReplicaChoice {
  /** A replica's 404 is relayed as it is (UPSTREAM_404=pass), not turned into the contract's 400. */
  readonly pass404: boolean;
  /** The routing id of the request's key (HASH_KEY); undefined when no source yields one, or the only source is the request id. */
  keyOf(request: AdmittedRequest, clientIp: string): RequestKey | undefined;
  /** Which HASH_KEY source gave the request's key (`cookie:session`, ...), for the access log. */
  keySourceOf(request: AdmittedRequest, clientIp: string): string | undefined;
  /**
   * The replica for `key` on the current routing table: the first choice, or the next one not yet
   * `tried`; the replicas it went past in hash order go into `passedOver`, when given.
   */
  choose(key: RequestKey, tried?: ReadonlySet<string>, passedOver?: PassedOver[]): ReplicaHandle | undefined;
  /** Every candidate failed a replayable request (or none exists). */
  unavailable(): LbError;
}

/** The connections to each replica. */
export interface ReplicaPools {
  pool(replica: ReplicaHandle): Upstream;
  /** No connection to the replica was freed before the attempt's deadline. */
  busy(replica: string): LbError;
}

/** What each attempt's outcome is told to (loads, outliers, suspects, metrics). */
export interface OutcomeBook {
  /** Counts a request in flight to the replica (until `settled`). */
  began(replica: string): void;
  settled(replica: string): void;
  /** The replica answered with status `code` (as the client sees it) after `ms` to headers. */
  answered(replica: string, code: number, ms: number): void;
  /** The replica refused, reset or timed out before answering an attempt begun at `startedAt` (monotonicMs()). */
  failed(replica: string, error: Error, startedAt: number): void;
}

/** Where switched connections go: tunnels, re-homed when their key moves. */
export interface TunnelOpener {
  tunnel(opening: TunnelOpening): void;
}

/** Where requests that stay open on their replica are kept (HTTP/2 streams), re-homed when their key moves. */
export interface StreamKeeper {
  streamOpened(stream: Movable): void;
  streamEnded(stream: Movable): void;
}

/** What one exchange needs from the forwarder, by role. */
export type ExchangeHost = ReplicaChoice & ReplicaPools & OutcomeBook & TunnelOpener & StreamKeeper;

/**
 * Where a client request forwarded to a replica goes: its key (HASH_KEY; by default its id, the
 * client's X-Request-Id or a random one) picks the replica; a bodiless GET/HEAD that finds it dead
 * before any answer goes to the next one; a replica's 404 becomes the contract's 400 (unless
 * UPSTREAM_404=pass).
 */
export class Exchange implements RelayStrategy, Movable {
  readonly id: string;
  readonly canSwitch: boolean;
  readonly trace: RequestTrace | undefined;
  key: RequestKey;
  /** The request id's key: the key when no HASH_KEY source yields one. */
  private readonly idKey: RequestKey;
  /** A bodiless GET or HEAD: it goes to the next replica when one fails before answering. */
  private readonly safe: boolean;
  private readonly clientIp: string;
  private target: ReplicaHandle | undefined;
  private tried: Set<string> | undefined;
  private startedAt = 0;
  private retriedStale = false;
  /** The replica counted as having this request in flight. */
  private inFlightTo: string | undefined;
  /** A relay that can be moved away (an HTTP/2 stream), kept with the forwarder while its attempt lasts. */
  private kept: Attempts | undefined;
  /** Each replica a replayable request failed on, and how (the answer when none is left). */
  private failures: { replica: string; error: UpstreamError }[] | undefined;

  constructor(
    private readonly host: ExchangeHost,
    client: RequestClient,
    private readonly request: AdmittedRequest,
  ) {
    const { clientIp, observers } = client;
    this.clientIp = clientIp;
    this.trace = observers.tracer?.begin(request.method, request.path, clientIp, request.headers);
    const id = requestIdFrom(request.requestId);
    this.id = id.text;
    // No key of its own: the request's id routes it (the client's integer X-Request-Id, else random).
    this.idKey = id.key;
    this.key = this.keyNow();
    this.safe = !request.hasBody && (request.method === 'GET' || request.method === 'HEAD');
    this.canSwitch = request.upgrade;
  }

  /** The access log's (and the span's) view of the key. */
  observe(seen: Observation): void {
    const { record } = seen;
    const { request, id } = this;
    record.requestId = id;
    // Keyed by its id, the routing id is the id's text (canonical decimal): no number printed again.
    record.routingId = this.key === this.idKey ? id : String(this.key);
    record.keySource =
      this.host.keySourceOf(request, this.clientIp) ??
      (request.requestId !== undefined && request.requestId === id ? 'request-id' : 'random');
  }

  start(relay: Attempts): void {
    const replica = this.host.choose(this.key, undefined, relay.seen?.record.passedOver);
    if (replica === undefined) {
      relay.reply(this.host.unavailable());
      return;
    }
    relay.continueIfAsked();
    this.sendTo(relay, replica);
  }

  accept(status: number): LbError | undefined {
    const replica = this.target!;
    const ms = monotonicMs() - this.startedAt;
    if (status !== 404 || this.host.pass404) {
      this.host.answered(replica.name, status, ms);
      return undefined;
    }
    this.host.answered(replica.name, 400, ms);
    return notOnReplicas(this.request.path);
  }

  lost(error: UpstreamError, on: FailedOn | undefined, relay: Attempts): void {
    const replica = this.target!;
    // Busy, not broken: no blame, no failover (that would move the key), as HAProxy's queue timeout.
    const failure = failureOf(error.code);
    relay.seen?.attemptFailed(failure);
    if (error.code === 'POOL_TIMEOUT') {
      relay.reply(this.host.busy(replica.name), true, false);
    } else if (on?.reused && !on.answering && failure === 'reset' && !this.retriedStale && relay.replayable) {
      // A pooled connection the replica had just closed (the keep-alive race): one fresh try, no
      // blame, within the same attempt's deadline. A timeout or a bad answer is no such race; a body
      // already streamed to the dead connection is gone unless it was kept (a small gRPC call's).
      this.retriedStale = true;
      relay.seen?.attemptFailed('stale');
      this.sendTo(relay, replica, true, relay.deadline);
    } else {
      this.host.failed(replica.name, error, this.startedAt);
      // A gRPC call goes on too when a replica refused or reset it (not after a timeout: it may be running).
      if (this.safe || (failure !== 'timeout' && relay.replayable && isGrpc(this.request.headers))) {
        this.failures ??= [];
        this.failures.push({ replica: replica.name, error });
        this.sendToNext(relay, replica);
      } else relay.reply(new LbError('REPLICA_FAILED', `Replica ${replica.name} failed: ${error.code}`));
    }
  }

  brokeOff(error: UpstreamError): LbError {
    return new LbError('REPLICA_FAILED', `Replica ${this.target?.name} broke off its answer: ${error.code}`);
  }

  settle(): void {
    if (this.inFlightTo === undefined) return;
    this.host.settled(this.inFlightTo);
    this.inFlightTo = undefined;
    if (this.kept) this.host.streamEnded(this);
    this.kept = undefined;
  }

  /** The replica of the attempt under way. */
  get replica(): string {
    return this.target?.name ?? '';
  }

  /** Its key has another owner now: the relay ends it so that its client comes back to the new one. */
  moveAway(): void {
    this.kept?.moveAway?.();
  }

  rekey(): void {
    this.key = this.keyNow();
  }

  /** The request's key by the key sources now. */
  private keyNow(): RequestKey {
    return this.host.keyOf(this.request, this.clientIp) ?? this.idKey;
  }

  /** The replica answered 101: the two sockets become a tunnel for the key (re-homed when it moves). */
  switched(sockets: SwitchedSockets): void {
    const replica = this.target!;
    this.host.answered(replica.name, 101, monotonicMs() - this.startedAt);
    this.host.tunnel({ key: this.key, keyNow: () => this.keyNow(), replica: replica.name, ...sockets });
  }

  /** `deadline`: the attempt's, when it goes on on a new connection (a stale one's retry). */
  private sendTo(relay: Attempts, replica: ReplicaHandle, fresh = false, deadline?: number): void {
    this.target = replica;
    this.host.began(replica.name);
    this.inFlightTo = replica.name;
    this.startedAt = monotonicMs();
    relay.seen?.attempt(replica.name);
    if (relay.moveAway) {
      this.kept = relay;
      this.host.streamOpened(this);
    }
    // A tunnel has a connection of its own: a pooled one is never switched.
    relay.attempt(this.host.pool(replica), replica.name, fresh || this.canSwitch, deadline);
  }

  private sendToNext(relay: Attempts, failed: ReplicaHandle): void {
    this.tried ??= new Set();
    this.tried.add(failed.name);
    // The current membership: a concurrent /rm may have replaced the routing table.
    const next = this.host.choose(this.key, this.tried, relay.seen?.record.passedOver);
    if (next) this.sendTo(relay, next);
    else relay.reply(this.everyReplicaFailed(), true, false);
  }

  /**
   * No replica is left to try. Replicas that only refused or dropped connections are the
   * contract's "no replica available" (503); one that answered, but wrongly (garbage, a 101 nobody
   * asked for), makes it a 502 that says how each one failed.
   */
  private everyReplicaFailed(): LbError {
    const failures = this.failures ?? [];
    if (!failures.some(({ error }) => failureOf(error.code) === 'bad-response')) return this.host.unavailable();
    const how = failures.map(({ replica, error }) => `${replica} ${howItFailed(error)}`).join(', ');
    return new LbError('REPLICA_FAILED', `Every replica failed this request: ${how}`);
  }
}

/** How a replica failed an attempt, in words for the client's error. */
function howItFailed(error: UpstreamError): string {
  switch (error.code) {
    case 'BAD_RESPONSE':
      return `sent an invalid answer (${error.message})`;
    case 'UNEXPECTED_UPGRADE':
      return 'switched protocols without being asked (101)';
    case 'UNSOLICITED_RESPONSE':
      return 'answered before it was asked';
    case 'ECONNREFUSED':
      return 'refused the connection';
    default:
      return `failed: ${error.code}`;
  }
}

/** The access log's name for why an attempt got no answer. */
function failureOf(code: string): AttemptFailure {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'POOL_TIMEOUT':
      return 'busy';
    case 'CONNECT_TIMEOUT':
    case 'HEADERS_TIMEOUT':
    case 'BODY_TIMEOUT':
      return 'timeout';
    case 'BAD_RESPONSE':
    case 'UNSOLICITED_RESPONSE':
    case 'UNEXPECTED_UPGRADE':
      return 'bad-response';
    default:
      return 'reset'; // ECONNRESET, EPIPE, UPSTREAM_CLOSED and other socket errors
  }
}
