/**
 * The LB's one error contract. Code anywhere (manager, drivers, proxy, routes) throws an
 * `LbError` with a code and a detail; this module alone picks the status and writes the
 * contract's text, `{"message": "<Error> ...", "status": "failure"}`.
 */

/** Every way a request can fail, with the status the client sees. */
const STATUS = {
  /** Bad input of any kind: body, `n`, hostnames, a request the LB will not forward. */
  BAD_REQUEST: 400,
  /** The contract's own texts for `len(hostnames) > n`. */
  HOSTNAMES_OVER_ADDED: 400,
  HOSTNAMES_OVER_REMOVABLE: 400,
  /** A replica answered 404: the contract turns it into a 400. */
  NOT_ON_REPLICAS: 400,
  UNAUTHORIZED: 401,
  /** An LB-owned path that does not exist (e.g. under /dashboard/). */
  NOT_ON_LB: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  EXPECTATION_FAILED: 417,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  /** Replicas could not be started: nothing was added. */
  START_FAILED: 500,
  /** A driver could not do its part (engine unreachable, process would not start). */
  DRIVER_FAILED: 500,
  NOT_IMPLEMENTED: 501,
  REPLICA_FAILED: 502,
  NO_REPLICA: 503,
  /** Every connection to the replica stayed busy until the request's deadline (it never reached the replica). */
  REPLICA_BUSY: 503,
  HTTP_VERSION_NOT_SUPPORTED: 505,
  /** The controller (membership owner) cannot be reached from a data-plane instance. */
  CONTROLLER_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof STATUS;

/** Texts the contract fixes word for word; other codes carry their own detail. */
const FIXED: Partial<Record<ErrorCode, string>> = {
  HOSTNAMES_OVER_ADDED: 'Length of hostname list is more than newly added instances',
  HOSTNAMES_OVER_REMOVABLE: 'Length of hostname list is more than removable instances',
  NO_REPLICA: 'No server replica is available',
  UNAUTHORIZED: 'Missing or wrong admin token (send Authorization: Bearer <ADMIN_TOKEN>)',
  INTERNAL: 'Internal error in the load balancer',
};

export class LbError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** What went wrong, for a curl user; fixed texts need none. */
    readonly detail: string = FIXED[code] ?? code,
  ) {
    super(detail);
  }

  get status(): number {
    return STATUS[this.code];
  }
}

/** The code for a client error whose status a framework chose (e.g. Fastify's 413); 400 when none fits. */
export function codeForStatus(status: number): ErrorCode {
  if (status < 400 || status >= 500) return 'INTERNAL';
  return (Object.keys(STATUS) as ErrorCode[]).find((c) => STATUS[c] === status && !(c in FIXED)) ?? 'BAD_REQUEST';
}

/** The contract's error body. */
export interface Failure {
  readonly message: string;
  readonly status: 'failure';
}

export function failureBody(error: LbError): Failure {
  return { message: `<Error> ${error.detail}`, status: 'failure' };
}

/** Errors of the LB's own become their status and body; anything else is an internal error. */
export function toFailure(error: unknown): { status: number; body: Failure } {
  const known = error instanceof LbError ? error : new LbError('INTERNAL');
  return { status: known.status, body: failureBody(known) };
}

/** `/a/b?x=1` -> `/a/b`: how paths appear in messages. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A replica answered 404 for this URL. */
export const notOnReplicas = (url: string) =>
  new LbError('NOT_ON_REPLICAS', `'${pathOf(url)}' endpoint does not exist in server replicas`);

/** The message of anything thrown, for logs and details. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
