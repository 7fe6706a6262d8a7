import type { LbError } from '../contract/errors.js';
import type { Attempts, RelayStrategy } from './relay-strategy.js';
import type { Upstream, UpstreamError } from './upstream.js';

/** Where one of the LB's own paths is served, and the error when it cannot be reached. */
export interface OwnRoute {
  readonly pool: Upstream;
  readonly unavailable: (code: string) => LbError;
}

/**
 * Where a request for one of the LB's own paths (/rep, /add, /rm, /metrics, /membership,
 * /dashboard) goes: the Fastify app that serves them, as it is (no request id, no X-Served-By),
 * once (an admin call is never sent twice), its answer as Fastify gave it.
 */
export class OwnRouteStrategy implements RelayStrategy {
  readonly id = undefined;
  readonly canSwitch = false;
  readonly trace = undefined;

  constructor(private readonly route: OwnRoute) {}

  start(relay: Attempts): void {
    relay.continueIfAsked();
    relay.attempt(this.route.pool, undefined);
  }

  accept(): undefined {
    return undefined;
  }

  lost(error: UpstreamError, _on: unknown, relay: Attempts): void {
    relay.reply(this.route.unavailable(error.code));
  }

  brokeOff(error: UpstreamError): LbError {
    return this.route.unavailable(error.code);
  }

  settle(): void {}
}
