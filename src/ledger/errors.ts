/**
 * Errors the ledger throws. Refused debits are not errors: `debitUsage` answers them as a
 * status, because the pipeline handles them on every call. These classes are for misuse
 * (bad input) and for conditions a caller cannot go on from.
 */

/** Thrown when an amount is not a positive safe integer of micros. */
export class InvalidAmountError extends Error {
  override readonly name = 'InvalidAmountError';
  constructor(
    readonly amount: unknown,
    readonly externalId?: string,
  ) {
    const subject = externalId === undefined ? '' : ` for ${externalId}`;
    super(`Amount${subject} must be a positive whole number of micros, got ${String(amount)}`);
  }
}

/** Thrown by credits and reads that name a merchant that does not exist. */
export class MerchantNotFoundError extends Error {
  override readonly name = 'MerchantNotFoundError';
  constructor(readonly merchantId: string) {
    super(`Merchant ${merchantId} does not exist`);
  }
}

/** Thrown when a ledger cursor was not made by `listLedger`, or was altered. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  constructor(
    readonly cursor: string,
    options?: ErrorOptions,
  ) {
    super(`Invalid ledger cursor ${JSON.stringify(cursor)}`, options);
  }
}

/** Thrown when a page size is not a whole number within the allowed range. */
export class InvalidLimitError extends Error {
  override readonly name = 'InvalidLimitError';
  constructor(
    readonly limit: unknown,
    readonly max: number,
  ) {
    super(`Ledger page limit must be a whole number from 1 to ${max}, got ${String(limit)}`);
  }
}

/**
 * Thrown when a ledger statement fails: keeps the statement's name and the merchant so the
 * log line says which write failed, and the driver's error as `cause`.
 */
export class LedgerWriteError extends Error {
  override readonly name = 'LedgerWriteError';
  constructor(
    readonly operation: string,
    /** Null for a batch, which may span merchants. */
    readonly merchantId: string | null,
    options: ErrorOptions,
  ) {
    const subject = merchantId === null ? '' : ` for merchant ${merchantId}`;
    super(`Ledger ${operation} failed${subject}`, options);
  }
}

/** Thrown when a usage event's kind is not one of USAGE_KINDS. */
export class InvalidUsageKindError extends Error {
  override readonly name = 'InvalidUsageKindError';
  constructor(
    readonly kind: unknown,
    readonly eventId: string,
  ) {
    super(`Usage event ${eventId} has unknown kind ${JSON.stringify(kind)}`);
  }
}
