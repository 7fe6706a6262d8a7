import type { Socket } from 'node:net';
import { LbError, notOnReplicas } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RequestKey } from '../routing/index.js';
import { switchingHead } from './headers.js';
import type { Head } from './http-parser.js';
import type { AttemptFailure, Observation, PassedOver } from './observation.js';
import { type ClientSide, Relay } from './relay.js';
import type { AdmittedRequest } from './request.js';
import { requestIdFrom } from './request-id.js';
import type { TunnelOpening } from './tunnel.js';
import type { UpstreamConnection, UpstreamError, UpstreamPool } from './upstream.js';

/** What one exchange needs from the forwarder: the choice of replica, pools and bookkeeping. */
export interface ExchangeHost {
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
  pool(replica: ReplicaHandle): UpstreamPool;
  /** Counts a request in flight to the replica (until `settled`). */
  began(replica: string): void;
  settled(replica: string): void;
  /** The replica answered with status `code` (as the client sees it) after `ms` to headers. */
  answered(replica: string, code: number, ms: number): void;
  /** The replica refused, reset or timed out before answering an attempt begun at `startedAt` (performance.now()). */
  failed(replica: string, error: Error, startedAt: number): void;
  /** Every candidate failed a replayable request (or none exists). */
  unavailable(): LbError;
  /** The replica switched protocols: relay the two sockets as a tunnel for `key` (re-homed when it moves). */
  tunnel(opening: TunnelOpening): void;
  /** No connection to the replica was freed before the attempt's deadline. */
  busy(replica: string): LbError;
}

/**
 * One client request forwarded to a replica: its key (HASH_KEY; by default its id, the client's
 * X-Request-Id or a random one) picks the replica; a bodiless GET/HEAD that finds it dead before
 * any answer goes to the next one; a replica's 404 becomes the contract's 400 (unless
 * UPSTREAM_404=pass).
 */
export class Exchange extends Relay {
  private readonly key: RequestKey;
  private readonly replayable: boolean;
  override readonly canSwitch: boolean;
  private target: ReplicaHandle | undefined;
  private tried: Set<string> | undefined;
  private startedAt = 0;
  private retriedStale = false;
  /** The replica counted as having this request in flight. */
  private inFlightTo: string | undefined;
  /** Each replica a replayable request failed on, and how (the answer when none is left). */
  private failures: { replica: string; error: UpstreamError }[] | undefined;

  constructor(
    private readonly host: ExchangeHost,
    client: ClientSide,
    request: AdmittedRequest,
  ) {
    const { clientIp, observers } = client;
    super(client, request, observers.tracer?.begin(request.method, request.path, clientIp, request.headers));
    const id = requestIdFrom(request.requestId);
    this.id = id.text;
    // No key of its own: the request's id routes it (the client's integer X-Request-Id, else random).
    this.key = host.keyOf(request, client.clientIp) ?? id.key;
    this.replayable = !request.hasBody && (request.method === 'GET' || request.method === 'HEAD');
    this.canSwitch = request.upgrade;
    if (this.seen) this.observe(id.text);
  }

  /** The access log's (and the span's) view of the key. */
  private observe(id: string): void {
    const seen = this.seen!;
    const { record } = seen;
    record.requestId = id;
    record.routingId = String(this.key);
    const { request } = this;
    record.keySource =
      this.host.keySourceOf(request, this.client.clientIp) ??
      (request.requestId !== undefined && request.requestId === id ? 'request-id' : 'random');
  }

  /** The replica answered 101: the handshake is relayed, and the two sockets become a tunnel. */
  onSwitch(head: Head, socket: Socket, fromReplica: Buffer | undefined): void {
    const replica = this.target!;
    this.connection = undefined;
    this.settle();
    this.host.answered(replica.name, 101, performance.now() - this.startedAt);
    this.done = true;
    this.seen?.switched();
    const client = this.client.switchProtocols(switchingHead(head.headers, this.id!, replica.name));
    this.host.tunnel({
      key: this.key,
      replica: replica.name,
      client: client.socket,
      upstream: socket,
      fromClient: client.rest,
      fromReplica,
      seen: this.seen,
    });
  }

  start(): void {
    const replica = this.host.choose(this.key, undefined, this.seen?.record.passedOver);
    if (replica === undefined) {
      this.replyFailure(this.host.unavailable());
      return;
    }
    this.continueIfAsked();
    this.sendTo(replica);
  }

  protected accept(head: Head): boolean {
    const replica = this.target!;
    const ms = performance.now() - this.startedAt;
    if (head.status !== 404 || this.host.pass404) {
      this.host.answered(replica.name, head.status, ms);
      return true;
    }
    this.host.answered(replica.name, 400, ms);
    this.mode = 'discard';
    this.replyFailure(notOnReplicas(this.request.path));
    return false;
  }

  protected lost(error: UpstreamError, connection: UpstreamConnection | undefined): void {
    const replica = this.target!;
    // Busy, not broken: no blame, no failover (that would move the key), as HAProxy's queue timeout.
    const failure = failureOf(error.code);
    this.seen?.attemptFailed(failure);
    if (error.code === 'POOL_TIMEOUT') {
      this.replyFailure(this.host.busy(replica.name), true, false);
    } else if (
      connection?.reused &&
      !connection.answering &&
      failure === 'reset' &&
      !this.retriedStale &&
      this.canResend()
    ) {
      // A pooled connection the replica had just closed (the keep-alive race): one fresh try, no
      // blame, within the same attempt's deadline. A timeout or a bad answer is no such race.
      this.retriedStale = true;
      this.seen?.attemptFailed('stale');
      this.sendTo(replica, true, this.deadline);
    } else {
      this.host.failed(replica.name, error, this.startedAt);
      if (this.replayable) {
        this.failures ??= [];
        this.failures.push({ replica: replica.name, error });
        this.sendToNext(replica);
      } else this.replyFailure(new LbError('REPLICA_FAILED', `Replica ${replica.name} failed: ${error.code}`));
    }
  }

  protected brokeOff(error: UpstreamError): LbError {
    return new LbError('REPLICA_FAILED', `Replica ${this.target?.name} broke off its answer: ${error.code}`);
  }

  protected override settle(): void {
    if (this.inFlightTo === undefined) return;
    this.host.settled(this.inFlightTo);
    this.inFlightTo = undefined;
  }

  private canResend(): boolean {
    // A body already streamed to the dead connection is gone: only a body still pending can be resent.
    return this.replayable || (this.pending === undefined && !this.request.hasBody);
  }

  /** `deadline`: the attempt's, when it goes on on a new connection (a stale one's retry). */
  private sendTo(replica: ReplicaHandle, fresh = false, deadline?: number): void {
    this.target = replica;
    this.servedBy = replica.name;
    this.host.began(replica.name);
    this.inFlightTo = replica.name;
    this.startedAt = performance.now();
    this.seen?.attempt(replica.name);
    // A tunnel has a connection of its own: a pooled one is never switched.
    this.connect(this.host.pool(replica), fresh || this.canSwitch, deadline);
  }

  private sendToNext(failed: ReplicaHandle): void {
    this.tried ??= new Set();
    this.tried.add(failed.name);
    // The current membership: a concurrent /rm may have replaced the routing table.
    const next = this.host.choose(this.key, this.tried, this.seen?.record.passedOver);
    if (next) this.sendTo(next);
    else this.replyFailure(this.everyReplicaFailed(), true, false);
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
