import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AdminError } from '../replicas/errors.js';
import { failure } from './failure.js';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** Ajv's first complaint, in words a curl user can act on. */
function describeValidation(issue: ValidationIssue): string {
  const where = issue.instancePath ? `'${issue.instancePath.slice(1).replaceAll('/', '.')}'` : 'body';
  if (issue.keyword === 'additionalProperties') {
    return `body has unknown field '${String(issue.params?.additionalProperty)}' (allowed: n, hostnames)`;
  }
  return `${where} ${issue.message ?? 'is invalid'}`;
}

const BY_CODE: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: '<Error> Content-Type must be application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: '<Error> Request body is too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: '<Error> Content-Length does not match the body',
};

/** Every error leaves as `{"message": "<Error> ...", "status": "failure"}`. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AdminError) {
    reply.code(error.statusCode).send(failure(error.message));
    return;
  }
  if (error.validation && error.validation.length > 0) {
    reply.code(400).send(failure(`<Error> Invalid request body: ${describeValidation(error.validation[0] as ValidationIssue)}`));
    return;
  }
  const status = error.statusCode ?? 500;
  const known = error.code ? BY_CODE[error.code] : undefined;
  if (known) {
    reply.code(status).send(failure(known));
  } else if (status >= 400 && status < 500) {
    reply.code(status).send(failure(`<Error> ${error.message}`));
  } else {
    request.log.error({ err: error }, 'request failed');
    reply.code(500).send(failure('<Error> Internal error in the load balancer'));
  }
}
