/**
 * The API's one catalogue of error codes, each with its HTTP status, and the one body
 * builder every failure goes through: `{"error": {"code", "message", "details"}}`.
 */

export const API_ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid' },
  invalid_settings: { status: 400, message: 'The Auto Reload settings are invalid' },
  invalid_cursor: { status: 400, message: 'The cursor is not one this API gave out' },
  invalid_signature: { status: 400, message: 'The webhook signature is invalid' },
  payment_method_rejected: { status: 400, message: 'Stripe refused the payment method' },
  unauthorized: { status: 401, message: 'A valid API key is required' },
  insufficient_funds: { status: 402, message: 'The balance is too low for this usage' },
  forbidden: { status: 403, message: 'This key may not use this route' },
  not_found: { status: 404, message: 'No such route' },
  merchant_not_found: { status: 404, message: 'No such merchant' },
  nothing_to_authenticate: { status: 404, message: 'No recharge is waiting for authentication' },
  method_not_allowed: { status: 405, message: 'This route does not accept that method' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json' },
  rate_limited: { status: 429, message: 'Too many requests; retry later' },
  internal_error: { status: 500, message: 'Something went wrong on our side' },
  service_unavailable: { status: 503, message: 'A service we depend on is unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** One problem with the input, named by where it is (`body.amount`, `query.cursor`). */
export interface ErrorDetail {
  readonly field?: string;
  readonly message: string;
}

export interface ErrorBody {
  readonly error: {
    readonly code: ApiErrorCode;
    readonly message: string;
    readonly details: readonly ErrorDetail[];
  };
}

/** Thrown by handlers and hooks for any failure the caller should see. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string = API_ERRORS[code].message,
    readonly details: readonly ErrorDetail[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = API_ERRORS[code].status;
  }
}

/** The body of every error answer. */
export function errorBody(
  code: ApiErrorCode,
  message: string = API_ERRORS[code].message,
  details: readonly ErrorDetail[] = [],
): ErrorBody {
  return { error: { code, message, details } };
}
