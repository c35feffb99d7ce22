/**
 * A merchant's life outside the hot path: creation, saving a card, Auto Reload settings.
 * The REST API and the tests call this module; it keeps Postgres, Stripe and the
 * merchant's workflow in step.
 */
import type Stripe from 'stripe';
import { attachPaymentMethod } from '../activities/payment-methods';
import { type Currency } from '../domain/currency';
import type { AutoReloadSettings } from '../domain/auto-reload';
import type { Database } from '../db/client';
import type { Logger } from '../logger';
import { merchants, type SavedPaymentMethod } from '../db/schema';
import type { AutoReloadStateView } from '../workflows/state';
import { hashApiKey, newMerchantApiKey } from './api-keys';
import { newMerchantId } from './ids';
import type { MerchantWorkflows } from './workflow-client';

export interface NewMerchant {
  readonly name: string;
  readonly currency?: Currency;
  /** Start of the first billing cycle; now when omitted. May lie in the past. */
  readonly billingCycleAnchor?: Date;
  /** Fixed id, for callers that import merchants from elsewhere; random when omitted. */
  readonly id?: string;
}

export type MerchantRecord = typeof merchants.$inferSelect;

/** A merchant just created, with its API key: the only time the key is ever seen. */
export type CreatedMerchant = MerchantRecord & { readonly apiKey: string };

export interface MerchantServiceDeps {
  readonly db: Database;
  readonly stripe: Stripe;
  readonly workflows: MerchantWorkflows;
  readonly log: Logger;
  readonly now?: () => Date;
}

export interface MerchantService {
  /** Inserts the merchant with a zero balance and a new API key, and starts its workflow. */
  createMerchant(input: NewMerchant): Promise<CreatedMerchant>;
  /** Attaches the card to the merchant's Stripe customer, saves it, tells the workflow. */
  savePaymentMethod(merchantId: string, paymentMethodId: string): Promise<SavedPaymentMethod>;
  updateAutoReload(merchantId: string, settings: AutoReloadSettings): Promise<AutoReloadStateView>;
  getAutoReload(merchantId: string): Promise<AutoReloadStateView>;
}

export function createMerchantService(deps: MerchantServiceDeps): MerchantService {
  const now = deps.now ?? (() => new Date());
  return {
    async createMerchant(input) {
      const apiKey = newMerchantApiKey();
      const [row] = await deps.db
        .insert(merchants)
        .values({
          id: input.id ?? newMerchantId(),
          name: input.name,
          currency: input.currency ?? 'usd',
          billingCycleAnchor: input.billingCycleAnchor ?? now(),
          apiKeyHash: hashApiKey(apiKey),
        })
        .returning();
      if (!row) throw new Error('Inserting the merchant returned no row');
      // The merchant exists once its row does: failing here would lose the only copy of
      // its key. Every later message uses signal- or update-with-start, which starts the
      // workflow then.
      await deps.workflows.ensureStarted(row.id).catch((error: unknown) => {
        deps.log.warn({ err: error, merchantId: row.id }, 'Merchant workflow not started yet');
      });
      return { ...row, apiKey };
    },

    async savePaymentMethod(merchantId, paymentMethodId) {
      const saved = await attachPaymentMethod(deps, merchantId, paymentMethodId);
      await deps.workflows.signalPaymentMethodChanged(merchantId, true);
      return saved;
    },

    updateAutoReload: (merchantId, settings) => deps.workflows.updateSettings(merchantId, settings),

    getAutoReload: (merchantId) => deps.workflows.getState(merchantId),
  };
}
