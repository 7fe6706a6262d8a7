import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { exportToPrimary, TrafficReporter } from '../cluster/worker.js';
import type { Config } from '../config.js';
import { LbError } from '../contract/errors.js';
import { createLogger } from '../logging.js';
import { MembershipFollower } from '../membership/follower.js';
import { controllerTarget } from '../membership/source.js';
import { emptyRouter } from './controller.js';
import { buildForwarding, warnIfAdminOpen } from './forwarding.js';
import { applyPublished } from './reload.js';

/** A data plane waits this long for its first membership before it listens (then routes on nothing: 503s). */
const FIRST_MEMBERSHIP_WAIT_MS = 10_000;

/** A data-plane instance: follows a controller's membership, forwards, relays admin calls to it. */
export interface DataPlaneInstance {
  readonly config: Config;
  readonly follower: MembershipFollower;
  start(): Promise<string>;
  stop(): Promise<void>;
  reopenLogs(): void;
}

/**
 * Outcome of an admin call the controller did not answer: a call that never reached it was not
 * applied; one that may have reached it (sent, then no answer in time or a reset) is unknown.
 */
function relayFailure(shown: string, timeoutMs: number, code: string): LbError {
  const never = [
    'ECONNREFUSED',
    'ENOENT',
    'CONNECT_TIMEOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'ENOTFOUND',
    'POOL_TIMEOUT',
    'POOL_CLOSED',
  ];
  const why =
    code === 'HEADERS_TIMEOUT' || code === 'BODY_TIMEOUT'
      ? `did not answer within ${timeoutMs} ms (ADMIN_RELAY_TIMEOUT_MS); the outcome of this call is unknown (GET /rep shows the membership)`
      : never.includes(code)
        ? `is unavailable: ${code}; the call was not applied`
        : `failed: ${code}; the outcome of this call is unknown (GET /rep shows the membership)`;
  return new LbError(
    'CONTROLLER_UNAVAILABLE',
    `The controller (${shown}) ${why}; requests are still forwarded on the last membership`,
  );
}

/**
 * A data-plane instance (LB_ROLE=data-plane): follows the controller's membership, forwards,
 * relays admin calls to it (bounded by ADMIN_RELAY_TIMEOUT_MS). As an LB worker (`worker`) its
 * metrics and traffic go to the primary; on its own it serves its own /metrics, with an
 * `instance` label.
 */
export function createDataPlaneInstance(
  config: Config,
  overrides: { log?: Logger; worker?: boolean } = {},
): DataPlaneInstance {
  const log = overrides.log ?? createLogger(config.logLevel, 'lb-data-plane');
  const address = config.controllerUrl!;
  const target = controllerTarget(address);
  const follower = new MembershipFollower({ controller: target, emptyRouter: emptyRouter(config), log });
  const shown = address.startsWith('unix:@') ? 'the controller process' : address;
  const reporter = overrides.worker ? new TrafficReporter((message) => process.send?.(message)) : undefined;
  const ownMetrics = !overrides.worker;
  const forwarding = buildForwarding({
    config,
    log,
    serviceName: 'lb-data-plane',
    membership: follower,
    ownRoutes: {
      target,
      unavailable: (code) => relayFailure(shown, config.adminRelayTimeoutMs, code),
      get timeoutMs() {
        return config.adminRelayTimeoutMs;
      },
    },
    onResult: reporter?.record,
    ownMetrics,
  });
  const { dataPlane, metrics } = forwarding;
  // The controller's run-time settings, applied as they come with the membership (the same version everywhere).
  follower.on('settings', (published) => {
    try {
      const changed = applyPublished(config, published);
      forwarding.reconfigured(changed, published.version);
      if (changed.size > 0) log.info({ version: published.version, changed: [...changed] }, 'configuration applied');
    } catch (error) {
      log.error({ err: (error as Error).message, version: published.version }, "controller's settings not applied");
    }
  });
  if (!ownMetrics) exportToPrimary(metrics.registry);
  let stopped: Promise<void> | undefined;
  return {
    config,
    follower,
    async start() {
      await follower.start(FIRST_MEMBERSHIP_WAIT_MS);
      await forwarding.start();
      const url = await dataPlane.listen(config.port, config.host);
      if (ownMetrics) {
        warnIfAdminOpen(config, log);
        metrics.registry.setDefaultLabels({ instance: `${hostname()}:${new URL(url).port}` });
      }
      return url;
    },
    stop() {
      stopped ??= (async () => {
        await dataPlane.close(config.drainTimeoutMs);
        reporter?.stop();
        await follower.stop();
        await forwarding.close();
      })();
      return stopped;
    },
    reopenLogs: () => forwarding.reload(),
  };
}
