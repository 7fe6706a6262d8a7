import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { LbError, messageOf } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { ReplicaDriver } from './driver.js';
import { type Probe, waitForHeartbeat } from './probe.js';

/**
 * Replicas started, replaced and stopped on the driver, at most `concurrency` at once: a start
 * counts once the replica answers its heartbeat, and a failed one is stopped again. Membership
 * (names, indices, the routing table) is the manager's; this only runs processes or containers.
 */
export class ReplicaLifecycle {
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    private readonly options: {
      readonly driver: ReplicaDriver;
      readonly probe: Probe;
      readonly startTimeoutMs: number;
      readonly log: Logger;
      readonly concurrency: number;
    },
  ) {
    this.limit = pLimit(options.concurrency);
  }

  /** Starts every name at its index in parallel; if any fails, stops them all and throws START_FAILED. */
  async startAll(names: readonly string[], indices: readonly number[], weight: number): Promise<ReplicaHandle[]> {
    const results = await Promise.allSettled(
      names.map((name, k) => this.limit(() => this.startOne(name, indices[k]!, weight))),
    );
    const failed = results.flatMap((r, k) => (r.status === 'rejected' ? [`${names[k]} (${messageOf(r.reason)})`] : []));
    if (failed.length > 0) {
      await Promise.all(names.map((name) => this.limit(() => this.stopQuietly(name, 0))));
      throw new LbError('START_FAILED', `Could not start ${failed.join(', ')}; nothing was added`);
    }
    return results.map((r) => (r as PromiseFulfilledResult<ReplicaHandle>).value);
  }

  /** A new process/container/task for a member, in place where the driver can, else stop and start. */
  async replace(name: string, index: number, weight: number): Promise<ReplicaHandle> {
    const { driver } = this.options;
    if (!driver.restart) {
      await this.stopQuietly(name, 0);
      return this.startOne(name, index, weight);
    }
    const handle = await driver.restart(name, index, weight);
    await waitForHeartbeat(handle.url, this.options.startTimeoutMs, this.options.probe);
    return handle;
  }

  /** Stops it (SIGTERM, `graceMs`, kill), in turn with the other starts and stops; a failure is logged. */
  stop(name: string, graceMs: number): Promise<void> {
    return this.limit(() => this.stopQuietly(name, graceMs));
  }

  private async startOne(name: string, index: number, weight: number): Promise<ReplicaHandle> {
    const handle = { weight, ...(await this.options.driver.start(name, index, weight)) };
    try {
      await waitForHeartbeat(handle.url, this.options.startTimeoutMs, this.options.probe);
    } catch (error) {
      await this.stopQuietly(name, 0);
      throw error;
    }
    return handle;
  }

  private async stopQuietly(name: string, graceMs: number): Promise<void> {
    try {
      await this.options.driver.stop(name, graceMs);
    } catch (error) {
      this.options.log.error({ name, err: messageOf(error) }, 'could not stop replica');
    }
  }
}
