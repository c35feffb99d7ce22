/** What the API's routes are built over. */
import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import type { ApiConfig } from '../config';
import type { DatabaseHandle } from '../db/client';
import { type Currency, isCurrency } from '../domain/currency';
import type { Engine } from '../engine';
import type { Logger } from '../logger';
import { UnknownMerchantError } from '../merchants/reads';
import type { ApiMetrics } from './metrics';

export interface ApiDeps {
  readonly engine: Engine;
  readonly database: DatabaseHandle;
  readonly stripe: Stripe;
  readonly temporal: Client;
  readonly config: ApiConfig;
  readonly log: Logger;
  readonly metrics: ApiMetrics;
  readonly currencies: CurrencyCache;
}

/**
 * A merchant's currency never changes after creation, so the usage hot path formats its
 * answers from memory rather than reading the merchant row on every debit.
 */
export interface CurrencyCache {
  /** Throws UnknownMerchantError for a merchant that does not exist. */
  of(merchantId: string): Promise<Currency>;
  remember(merchantId: string, currency: Currency): void;
}

/** Bounded so that a stream of unknown ids cannot grow it without limit. */
const CURRENCY_CACHE_SIZE = 100_000;

export function createCurrencyCache(database: DatabaseHandle): CurrencyCache {
  const known = new Map<string, Currency>();
  const remember = (merchantId: string, currency: Currency): void => {
    if (known.size >= CURRENCY_CACHE_SIZE) known.clear();
    known.set(merchantId, currency);
  };
  return {
    async of(merchantId) {
      const cached = known.get(merchantId);
      if (cached !== undefined) return cached;
      // A bare select: a cold API meets every active merchant here once.
      const [row] = await database.sql<{ currency: string }[]>`
        select currency from merchants where id = ${merchantId}`;
      if (row === undefined) throw new UnknownMerchantError(merchantId);
      if (!isCurrency(row.currency)) {
        throw new Error(`Merchant ${merchantId} has currency ${row.currency}`);
      }
      remember(merchantId, row.currency);
      return row.currency;
    },
    remember,
  };
}

export { UnknownMerchantError };
