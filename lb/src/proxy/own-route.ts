import type { LbError } from '../contract/errors.js';
import type { Head } from './http-parser.js';
import { type ClientSide, Relay } from './relay.js';
import type { AdmittedRequest } from './request.js';
import type { UpstreamError, UpstreamPool } from './upstream.js';

/** Where one of the LB's own paths is served, and the error when it cannot be reached. */
export interface OwnRoute {
  readonly pool: UpstreamPool;
  readonly unavailable: (code: string) => LbError;
}

/**
 * A request for one of the LB's own paths (/rep, /add, /rm, /metrics, /membership, /dashboard)
 * relayed to the Fastify app that serves them: as it is (no request id, no X-Served-By), once
 * (an admin call is never sent twice), its answer as Fastify gave it.
 */
export class OwnRouteRelay extends Relay {
  constructor(
    client: ClientSide,
    request: AdmittedRequest,
    private readonly route: OwnRoute,
  ) {
    super(client, request);
  }

  start(): void {
    this.continueIfAsked();
    this.connect(this.route.pool);
  }

  protected accept(_head: Head): boolean {
    return true;
  }

  protected lost(error: UpstreamError): void {
    this.replyFailure(this.route.unavailable(error.code));
  }

  protected brokeOff(error: UpstreamError): LbError {
    return this.route.unavailable(error.code);
  }
}
