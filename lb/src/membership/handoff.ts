import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { request } from 'undici';
import { type MovedRange, movedRanges, positionCount, type RoutingTable } from '../routing/index.js';
import type { ReplicaHandle } from './replica.js';

type Range = { readonly from: number; readonly to: number };

/** What a replica is told of a change: what it gains, and what it loses to whom. */
export interface HandoffNotice {
  readonly version: number;
  readonly phase: 'prepare' | 'commit';
  /** How keys map to positions (a replica finds its keys' positions by it). */
  readonly keyspace: { readonly kind: 'ring' | 'maglev'; readonly positions: number; readonly hashFunction: string };
  readonly gained: readonly Range[];
  readonly lost: readonly { readonly ranges: readonly Range[]; readonly to: string; readonly url: string }[];
}

export type HandoffOutcome = 'ok' | 'failed' | 'timeout';

export interface HandoffOptions {
  /** HANDOFF_PATH now: unset, nothing is sent. */
  readonly path: () => string | undefined;
  /** HANDOFF_TIMEOUT_MS now: 0, changes switch at once (no prepare). */
  readonly timeoutMs: () => number;
  readonly hashFunction: string;
  readonly log: Logger;
}

const COMMIT_TRIES = 5;
const COMMIT_FIRST_DELAY_MS = 200;
const COMMIT_TRY_TIMEOUT_MS = 5000;

/**
 * Tells replicas which part of the key space they gain and lose at a change (HANDOFF_PATH): before
 * an `/add` or `/rm` switches routing (`prepare`, awaited up to HANDOFF_TIMEOUT_MS), and after every
 * change (`commit`, in the background, retried with backoff). Routing never waits for more than the
 * timeout, and never trusts what a replica answers: it switches by its own table.
 */
export class HandoffNotifier extends EventEmitter<{
  /** One notification's outcome. */
  notified: [phase: HandoffNotice['phase'], outcome: HandoffOutcome];
  /** How long the change to `version` waited for its prepare, and how many of the replicas confirmed it. */
  prepared: [ms: number, version: number, confirmed: number, asked: number];
}> {
  constructor(private readonly options: HandoffOptions) {
    super();
  }

  /** Sends `prepare` to every replica the change involves; resolves once each that loses keys answered, or the timeout passed. */
  async prepare(
    before: RoutingTable<ReplicaHandle>,
    after: RoutingTable<ReplicaHandle>,
    version: number,
  ): Promise<number> {
    const path = this.options.path();
    const timeoutMs = this.options.timeoutMs();
    if (path === undefined || timeoutMs <= 0) return 0;
    const started = Date.now();
    const moved = movedRanges(before, after);
    const notices = noticesOf(moved, before, after, version, 'prepare', this.options.hashFunction);
    const sends = [...notices].map(async ([url, notice]) => {
      const outcome = await post(`${url}${path}`, notice, timeoutMs);
      this.emit('notified', 'prepare', outcome);
      if (outcome !== 'ok')
        this.options.log.warn({ url, version, outcome }, 'hand-off: a replica did not confirm prepare');
      else this.options.log.info({ url, version, phase: 'prepare' }, 'hand-off: notified');
      return outcome;
    });
    // The replicas that only gain are told too; the switch waits for those that lose keys.
    const losing = [...notices.values()].map((notice, k) => (notice.lost.length > 0 ? sends[k]! : undefined));
    const outcomes = await Promise.all(losing.filter((send) => send !== undefined));
    const ms = Date.now() - started;
    this.emit('prepared', ms, version, outcomes.filter((o) => o === 'ok').length, outcomes.length);
    this.options.log.info({ version, ms, replicas: notices.size }, 'hand-off: prepared');
    return ms;
  }

  /** Sends `commit` to every replica a change (its `moved` ranges) involves, retried with backoff; returns at once. */
  commit(
    moved: readonly MovedRange[],
    before: RoutingTable<ReplicaHandle>,
    after: RoutingTable<ReplicaHandle>,
    version: number,
  ): void {
    const path = this.options.path();
    if (path === undefined) return;
    for (const [url, notice] of noticesOf(moved, before, after, version, 'commit', this.options.hashFunction)) {
      void this.commitTo(`${url}${path}`, notice);
    }
  }

  private async commitTo(target: string, notice: HandoffNotice): Promise<void> {
    let outcome: HandoffOutcome = 'failed';
    for (let attempt = 0; attempt < COMMIT_TRIES; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, COMMIT_FIRST_DELAY_MS * 2 ** (attempt - 1)).unref());
      outcome = await post(target, notice, COMMIT_TRY_TIMEOUT_MS);
      if (outcome === 'ok') break;
    }
    this.emit('notified', 'commit', outcome);
    if (outcome !== 'ok')
      this.options.log.warn({ target, version: notice.version, outcome }, 'hand-off: commit not delivered');
    else this.options.log.info({ target, version: notice.version, phase: 'commit' }, 'hand-off: notified');
  }
}

/** One POST of a notice: ok on a 2xx within `timeoutMs`. */
async function post(url: string, notice: HandoffNotice, timeoutMs: number): Promise<HandoffOutcome> {
  try {
    const res = await request(url, {
      method: 'POST',
      body: JSON.stringify(notice),
      headers: { 'content-type': 'application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : 'failed';
  } catch (error) {
    const name = (error as Error).name;
    return name === 'TimeoutError' || name === 'AbortError' || /Timeout/.test(String((error as { code?: string }).code))
      ? 'timeout'
      : 'failed';
  }
}

/** Each replica's notice of a change from `before` to `after` that moved `moved`, by its URL. */
export function noticesOf(
  moved: readonly MovedRange[],
  before: RoutingTable<ReplicaHandle>,
  after: RoutingTable<ReplicaHandle>,
  version: number,
  phase: HandoffNotice['phase'],
  hashFunction: string,
): Map<string, HandoffNotice> {
  const urlOf = new Map<string, string>();
  for (const m of [...before.members, ...after.members]) urlOf.set(m.name, m.url);
  const involved = new Set<string>();
  for (const range of moved) for (const name of [range.was, range.now]) if (name !== null) involved.add(name);
  const keyspace: HandoffNotice['keyspace'] = { kind: after.kind, positions: positionCount(after), hashFunction };
  const notices = new Map<string, HandoffNotice>();
  for (const name of involved) {
    const url = urlOf.get(name);
    if (url === undefined) continue;
    const gained = moved.filter((r) => r.now === name).map(rangeOnly);
    const lostTo = new Map<string, MovedRange[]>();
    for (const r of moved) if (r.was === name && r.now !== null) lostTo.set(r.now, [...(lostTo.get(r.now) ?? []), r]);
    const lost = [...lostTo].map(([to, ranges]) => ({ ranges: ranges.map(rangeOnly), to, url: urlOf.get(to) ?? '' }));
    notices.set(url, { version, phase, keyspace, gained, lost });
  }
  return notices;
}

const rangeOnly = ({ from, to }: MovedRange): Range => ({ from, to });
