import { randomInt } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A Stripe-looking id such as `pi_3QxZ...`: the prefix, an underscore and random letters. */
export function newId(prefix: string, length = 24): string {
  let suffix = '';
  for (let index = 0; index < length; index += 1) {
    suffix += ALPHABET.charAt(randomInt(ALPHABET.length));
  }
  return `${prefix}_${suffix}`;
}

/** Stripe timestamps are whole seconds since the epoch. */
export function unixSeconds(epochMs: number = Date.now()): number {
  return Math.floor(epochMs / 1000);
}
