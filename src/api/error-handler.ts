/**
 * Turns every failure into SPEC 5's error body: our own ApiErrors as they are, domain
 * errors by their class, Fastify's own (validation, body size, media type) by their code,
 * unreachable dependencies as 503, anything else as a 500 that shows no internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '@temporalio/client';
import { PaymentMethodRejectedError } from '../activities/payment-methods';
import { InvalidMoneyError } from '../domain/money';
import {
  InvalidAmountError,
  InvalidCursorError,
  InvalidLimitError,
  MerchantNotFoundError,
} from '../ledger/errors';
import { UnknownMerchantError } from '../merchants/reads';
import { ApiError, type ApiErrorCode, type ErrorDetail, errorBody } from './errors';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

const CONTEXT_NAMES: Record<string, string> = { querystring: 'query' };

/** `body.events.3.amount`: where the problem is, in the caller's terms. */
function validationDetail(context: string, issue: ValidationIssue): ErrorDetail {
  const path = [CONTEXT_NAMES[context] ?? context, ...issue.instancePath.split('/').slice(1)];
  if (issue.keyword === 'additionalProperties') {
    return {
      field: [...path, String(issue.params.additionalProperty)].join('.'),
      message: 'unknown field',
    };
  }
  if (issue.keyword === 'required') {
    return {
      field: [...path, String(issue.params.missingProperty)].join('.'),
      message: 'required',
    };
  }
  if (issue.keyword === 'pattern' && issue.params.pattern?.toString().includes('\\.[0-9]{1,6}')) {
    return {
      field: path.join('.'),
      message: 'must be a decimal string with at most 6 fractional digits, such as "20.00"',
    };
  }
  return { field: path.join('.'), message: issue.message ?? issue.keyword };
}

const BY_FASTIFY_CODE: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
};

/** Postgres or Temporal cannot be reached: the caller should retry, nothing is broken. */
const UNREACHABLE_CODES: readonly unknown[] = [
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
];

/** Drizzle wraps the driver's error, so the whole cause chain is searched. */
function isUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; depth += 1) {
    if (cause instanceof ServiceError) return true;
    if (UNREACHABLE_CODES.includes((cause as { code?: unknown }).code)) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

function fromDomain(error: unknown): ApiError | undefined {
  if (error instanceof InvalidMoneyError || error instanceof InvalidAmountError) {
    return new ApiError('invalid_request', error.message);
  }
  if (error instanceof InvalidCursorError) return new ApiError('invalid_cursor');
  if (error instanceof InvalidLimitError) {
    return new ApiError('invalid_request', error.message, [
      { field: 'query.limit', message: error.message },
    ]);
  }
  if (error instanceof UnknownMerchantError || error instanceof MerchantNotFoundError) {
    return new ApiError('merchant_not_found');
  }
  if (error instanceof PaymentMethodRejectedError) {
    const reason = error.stripeCode ? ` (${error.stripeCode})` : '';
    return new ApiError('payment_method_rejected', `${error.message}${reason}`);
  }
  return undefined;
}

function fromFastify(error: FastifyError): ApiError | undefined {
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    const details = (error.validation as ValidationIssue[]).map((issue) =>
      validationDetail(context, issue),
    );
    return new ApiError('invalid_request', undefined, details);
  }
  const code = BY_FASTIFY_CODE[error.code];
  if (code !== undefined) {
    return new ApiError(code, code === 'invalid_request' ? error.message : undefined);
  }
  // Any other 4xx Fastify raises (a malformed URL, a body cut short) is the caller's.
  const status = error.statusCode ?? 500;
  return status >= 400 && status < 500 ? new ApiError('invalid_request', error.message) : undefined;
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const known = fromDomain(error) ?? fromFastify(error as FastifyError);
  if (known) return known;
  if (isUnavailable(error)) return new ApiError('service_unavailable');
  return new ApiError('internal_error');
}

export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const apiError = toApiError(error);
  const attributes = { err: error, code: apiError.code, status: apiError.status };
  // Level by meaning: our failures are errors, the caller's mistakes are information.
  if (apiError.status >= 500) request.log.error(attributes, 'Request failed');
  else request.log.info({ code: apiError.code, status: apiError.status }, 'Request refused');
  return reply
    .code(apiError.status)
    .send(errorBody(apiError.code, apiError.message, apiError.details));
}
