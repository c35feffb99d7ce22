/**
 * The activities of the merchant workflow, built over their dependencies so that the
 * worker, the tests and the benchmarks each pass their own database and Stripe client.
 */
import { Context } from '@temporalio/activity';
import type Stripe from 'stripe';
import { billingCycleAt } from '../domain/billing-cycle';
import type { Micros } from '../domain/money';
import type { Database } from '../db/client';
import { deliverNotification } from '../notifications/delivery';
import type {
  AutoReloadActivities,
  BalanceAfter,
  CreditRequest,
  FundingMeasure,
  MerchantSnapshot,
} from './contract';
import { chargeCard, lookUpCharge } from './charge';
import { settleLateRecharge } from './late-recharge';
import {
  cycleTotal,
  findMerchant,
  findSettings,
  insertDecision,
  saveStatus,
  upsertSettings,
} from './merchant-store';

/** The part of the ledger the activities use; the ledger module implements it. */
export interface LedgerForActivities {
  /** `credited` is false when this PaymentIntent was credited before (nothing changed). */
  creditRecharge(request: CreditRequest): Promise<BalanceAfter & { readonly credited: boolean }>;
  readBalance(merchantId: string): Promise<BalanceAfter | null>;
  readFunding(merchantId: string, afterSeq: number): Promise<FundingMeasure | null>;
}

export interface ActivityDeps {
  readonly db: Database;
  readonly stripe: Stripe;
  readonly ledger: LedgerForActivities;
  /** Milliseconds since the epoch; replaced in tests that need another "now". */
  readonly now?: () => number;
  /** Deliver notifications to loopback and private addresses too; off by default. */
  readonly allowPrivateNotificationUrls?: boolean;
  /** Waits before each retry after a soft decline; 1 h, 6 h, 24 h when absent. */
  readonly softDeclineRetryDelaysMs?: readonly number[];
}

async function requireBalance(
  ledger: LedgerForActivities,
  merchantId: string,
): Promise<BalanceAfter> {
  const balance = await ledger.readBalance(merchantId);
  if (!balance) throw new Error(`Merchant ${merchantId} has no balance row`);
  return balance;
}

/** The merchant workflow's activities over these dependencies; the worker registers them. */
export function createActivities(deps: ActivityDeps): AutoReloadActivities {
  const now = deps.now ?? Date.now;
  return {
    async loadMerchant(merchantId): Promise<MerchantSnapshot> {
      const merchant = await findMerchant(deps.db, merchantId);
      const anchor = merchant.billingCycleAnchor.toISOString();
      const cycle = billingCycleAt(anchor, now());
      return {
        merchantId,
        currency: merchant.currency,
        billingCycleAnchor: anchor,
        settings: await findSettings(deps.db, merchantId, merchant.currency),
        hasPaymentMethod: merchant.paymentMethod !== null && merchant.stripeCustomerId !== null,
        balance: merchant.balance as Micros,
        ledgerSeq: merchant.ledgerSeq,
        cycleKey: cycle.key,
        cycleTotal: await cycleTotal(deps.db, merchantId, cycle.key),
      };
    },

    async saveSettings({ merchantId, settings }) {
      await upsertSettings(deps.db, merchantId, settings);
      return requireBalance(deps.ledger, merchantId);
    },

    saveStatus: ({ merchantId, status }) => saveStatus(deps.db, merchantId, status),

    chargeCard: (request) => chargeCard(deps, request, Context.current().info.attempt),

    lookUpCharge: (request) => lookUpCharge(deps, request),

    creditRecharge: (request) => deps.ledger.creditRecharge(request),

    async measureFunding({ merchantId, afterSeq }) {
      const funding = await deps.ledger.readFunding(merchantId, afterSeq);
      if (!funding) throw new Error(`Merchant ${merchantId} has no balance row`);
      return funding;
    },

    recordDecision: (input) => insertDecision(deps.db, input),

    settleLateRecharge: (request) => settleLateRecharge(deps, request),

    async notifyMerchant(request) {
      const { attempt } = Context.current().info;
      const delivery = {
        db: deps.db,
        now,
        allowPrivateUrls: deps.allowPrivateNotificationUrls ?? false,
      };
      const outcome = await deliverNotification(delivery, request, attempt);
      const { notificationId, type } = request;
      Context.current().log.info('Notification settled', { notificationId, type, ...outcome });
      return outcome;
    },
  };
}
