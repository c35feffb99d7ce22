import type Stripe from 'stripe';

/** The error types Stripe's v1 API answers with; the client picks its error class from them. */
export type StripeErrorType =
  'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';

/** The `error` object of a Stripe error body; declines add the charge and PaymentIntent. */
export interface StripeErrorFields {
  readonly type: StripeErrorType;
  readonly message: string;
  readonly code?: string;
  readonly decline_code?: string;
  readonly param?: string;
  readonly doc_url?: string;
  readonly charge?: string;
  readonly payment_intent?: Stripe.PaymentIntent;
  readonly payment_method?: Stripe.PaymentMethod;
}

/**
 * A request the sandbox refuses before doing any work. Handlers throw it; the pipeline
 * answers it and, like Stripe for invalid parameters, never saves it under an
 * idempotency key.
 */
export class StripeRequestError extends Error {
  constructor(
    readonly status: number,
    readonly fields: StripeErrorFields,
  ) {
    super(fields.message);
    this.name = 'StripeRequestError';
  }
}

/** The one builder of Stripe error bodies. */
export function errorBody(fields: StripeErrorFields): { error: StripeErrorFields } {
  return { error: fields };
}

/** Stripe links each error code to a page named after it, dashes for underscores. */
export function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`;
}

function invalid(status: number, message: string, code?: string, param?: string) {
  const fields: StripeErrorFields = {
    type: 'invalid_request_error',
    message,
    ...(code === undefined ? {} : { code, doc_url: docUrl(code) }),
    ...(param === undefined ? {} : { param }),
  };
  return new StripeRequestError(status, fields);
}

export function parameterMissing(param: string): StripeRequestError {
  return invalid(400, `Missing required param: ${param}.`, 'parameter_missing', param);
}

export function parameterUnknown(param: string): StripeRequestError {
  return invalid(400, `Received unknown parameter: ${param}`, 'parameter_unknown', param);
}

/** A parameter of the wrong shape, e.g. `Invalid integer: ten`. */
export function parameterInvalid(param: string, message: string, code?: string) {
  return invalid(400, message, code, param);
}

/**
 * An id that names nothing: 404 when it is the resource in the path, 400 when it is
 * a parameter of another request.
 */
export function resourceMissing(noun: string, id: string, param?: string): StripeRequestError {
  const status = param === undefined ? 404 : 400;
  return invalid(status, `No such ${noun}: '${id}'`, 'resource_missing', param);
}

/** A well-formed request that the state of the objects forbids. */
export function invalidRequest(message: string, options: { code?: string; param?: string } = {}) {
  return invalid(400, message, options.code, options.param);
}

export function unrecognizedUrl(method: string, path: string): StripeRequestError {
  return invalid(404, `Unrecognized request URL (${method}: ${path}).`);
}

export function authenticationFailed(message: string): StripeRequestError {
  return invalid(401, message);
}

export function idempotencyMismatch(key: string): StripeRequestError {
  return new StripeRequestError(400, {
    type: 'idempotency_error',
    message:
      'Keys for idempotent requests can only be used with the same parameters they were ' +
      `first used with. Try using a key other than '${key}' if you meant to execute a ` +
      'different request.',
  });
}

export function idempotencyKeyInUse(key: string): StripeRequestError {
  const message =
    'There is currently another in-progress request using this Idempotency Key (that ' +
    `probably means you submitted twice, and the other request is still going through): ` +
    `'${key}'. Please try again later.`;
  return invalid(409, message, 'idempotency_key_in_use');
}

export function rateLimited(): StripeRequestError {
  const message = 'Request rate limit exceeded (injected by the Stripe sandbox).';
  return invalid(429, message, 'rate_limit');
}

/** The body of an injected or unexpected server-side failure. */
export function apiError(status: number, message: string): StripeRequestError {
  return new StripeRequestError(status, { type: 'api_error', message });
}
