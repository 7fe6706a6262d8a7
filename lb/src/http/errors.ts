import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { codeForStatus, LbError, toFailure } from '../contract/errors.js';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** Ajv's first complaint, in words a curl user can act on; `allowed`: the route's body fields. */
function describeValidation(issue: ValidationIssue, allowed: readonly string[]): string {
  const where = issue.instancePath ? `'${issue.instancePath.slice(1).replaceAll('/', '.')}'` : 'body';
  if (issue.keyword === 'additionalProperties') {
    return `body has unknown field '${String(issue.params?.additionalProperty)}' (allowed: ${allowed.join(', ')})`;
  }
  return `${where} ${issue.message ?? 'is invalid'}`;
}

/** The fields the route's body schema declares (its JSON schema is the one list of them). */
function bodyFields(request: FastifyRequest): string[] {
  const body = request.routeOptions.schema?.body as { properties?: Record<string, unknown> } | undefined;
  return Object.keys(body?.properties ?? {});
}

/** Fastify's own errors, as the LB's. */
const BY_CODE: Record<string, LbError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: new LbError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'),
  FST_ERR_CTP_BODY_TOO_LARGE: new LbError('BODY_TOO_LARGE', 'Request body is too large'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: new LbError('BAD_REQUEST', 'Content-Length does not match the body'),
};

/** Any error a route or Fastify raises, as the LB's error (unknown ones are internal). */
function asLbError(error: FastifyError, request: FastifyRequest): LbError | undefined {
  if (error instanceof LbError) return error;
  if (error.validation && error.validation.length > 0) {
    return new LbError(
      'BAD_REQUEST',
      `Invalid request body: ${describeValidation(error.validation[0] as ValidationIssue, bodyFields(request))}`,
    );
  }
  const known = error.code ? BY_CODE[error.code] : undefined;
  if (known) return known;
  const status = error.statusCode ?? 500;
  return status >= 400 && status < 500 ? new LbError(codeForStatus(status), error.message) : undefined;
}

/** Every error leaves in the contract's shape. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = asLbError(error, request);
  if (!known) request.log.error({ err: error }, 'request failed');
  const { status, body } = toFailure(known);
  reply.code(status).send(body);
}
