/**
 * Merchant API keys: random, shown once at creation, stored only as a hash. The keys carry
 * 192 random bits, so a plain SHA-256 is enough: a slow password hash would only slow every
 * request without making a guess any likelier to succeed.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { merchants } from '../db/schema';

export const MERCHANT_KEY_PREFIX = 'mk_';

export function newMerchantApiKey(): string {
  return `${MERCHANT_KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A configured key, hashed once, to compare callers' keys against. */
export interface KeyDigest {
  readonly digest: Buffer;
}

export function keyDigest(key: string): KeyDigest {
  return { digest: createHash('sha256').update(key, 'utf8').digest() };
}

/**
 * Compares a caller's key with a configured one in time that does not depend on where they
 * first differ. Comparing digests gives equal lengths, which timingSafeEqual requires.
 */
export function matchesKey(given: KeyDigest, expected: KeyDigest): boolean {
  return timingSafeEqual(given.digest, expected.digest);
}

/** The merchant a key belongs to, or null. The lookup is by hash: the key is never stored. */
export async function merchantIdForKey(db: Database, key: string): Promise<string | null> {
  if (!key.startsWith(MERCHANT_KEY_PREFIX)) return null;
  const hash = hashApiKey(key);
  const [row] = await db
    .select({ id: merchants.id, apiKeyHash: merchants.apiKeyHash })
    .from(merchants)
    .where(eq(merchants.apiKeyHash, hash));
  if (!row?.apiKeyHash) return null;
  return timingSafeEqual(Buffer.from(row.apiKeyHash), Buffer.from(hash)) ? row.id : null;
}
