import { randomBytes } from 'node:crypto';

/** A new merchant id: `mer_` and 16 random hex digits, safe in URLs and workflow ids. */
export function newMerchantId(): string {
  return `mer_${randomBytes(8).toString('hex')}`;
}

const MERCHANT_ID_PATTERN = /^mer_[0-9a-f]{16}$/;

export function isMerchantId(value: unknown): value is string {
  return typeof value === 'string' && MERCHANT_ID_PATTERN.test(value);
}
