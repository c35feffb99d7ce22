/**
 * Postgres tables. Money columns are bigint micros read as JS numbers (safe up to about
 * 9 billion major units). Column names are snake_case in SQL and camelCase here.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const micros = (name: string) => bigint(name, { mode: 'number' });
const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/** The card last saved for a merchant, as shown back to them (never the number). */
export interface SavedPaymentMethod {
  id: string;
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
}

export const merchants = pgTable(
  'merchants',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    currency: text('currency').notNull().default('usd'),
    billingCycleAnchor: timestamp('billing_cycle_anchor', { withTimezone: true }).notNull(),
    stripeCustomerId: text('stripe_customer_id'),
    paymentMethod: jsonb('payment_method').$type<SavedPaymentMethod>(),
    apiKeyHash: text('api_key_hash'),
    /** Always equals the sum of this merchant's ledger entries. */
    balance: micros('balance').notNull().default(0),
    /** Sequence number of the newest ledger entry; 0 before the first. */
    ledgerSeq: bigint('ledger_seq', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [
    check('merchants_balance_not_negative', sql`${t.balance} >= 0`),
    check('merchants_currency_known', sql`${t.currency} in ('usd', 'jpy')`),
    uniqueIndex('merchants_api_key_hash_idx').on(t.apiKeyHash),
  ],
);

export const LEDGER_KINDS = ['usage', 'recharge', 'manual_credit', 'adjustment'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** Append-only: rows are inserted, never updated or deleted. */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    kind: text('kind').$type<LedgerKind>().notNull(),
    /** Signed: debits are negative. */
    amount: micros('amount').notNull(),
    balanceAfter: micros('balance_after').notNull(),
    /** The caller's id that makes the entry idempotent: usage event id, PaymentIntent id. */
    externalId: text('external_id').notNull(),
    /** Usage kind (abandoned_cart, campaign...) or the reason of a manual credit. */
    description: text('description'),
    rechargeId: text('recharge_id'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.merchantId, t.seq] }),
    uniqueIndex('ledger_entries_external_idx').on(t.merchantId, t.kind, t.externalId),
    // A PaymentIntent pays for one recharge of one merchant: never credit it twice anywhere.
    uniqueIndex('ledger_entries_payment_intent_idx')
      .on(t.externalId)
      .where(sql`${t.kind} = 'recharge'`),
  ],
);

export const autoReloadSettings = pgTable('auto_reload_settings', {
  merchantId: text('merchant_id')
    .primaryKey()
    .references(() => merchants.id),
  enabled: boolean('enabled').notNull(),
  mode: text('mode').notNull(),
  threshold: micros('threshold').notNull(),
  amount: micros('amount').notNull(),
  maxPerCycle: micros('max_per_cycle').notNull(),
  /** Last status the workflow published; the workflow is the authority. */
  status: text('status').notNull().default('disabled'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const RECHARGE_STATUSES = ['pending', 'succeeded', 'failed', 'action_required'] as const;
export type RechargeStatus = (typeof RECHARGE_STATUSES)[number];

export const recharges = pgTable(
  'recharges',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    cycleKey: text('cycle_key').notNull(),
    attempt: integer('attempt').notNull(),
    amount: micros('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<RechargeStatus>().notNull().default('pending'),
    idempotencyKey: text('idempotency_key').notNull(),
    paymentIntentId: text('payment_intent_id'),
    failureCode: text('failure_code'),
    declineCode: text('decline_code'),
    failureMessage: text('failure_message'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('recharges_idempotency_key_idx').on(t.idempotencyKey),
    uniqueIndex('recharges_payment_intent_idx').on(t.paymentIntentId),
    index('recharges_merchant_created_idx').on(t.merchantId, t.createdAt),
  ],
);

/** The decision log of SPEC 3.4: why each recharge happened or did not. */
export const decisions = pgTable(
  'decisions',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    outcome: text('outcome').notNull(),
    reason: text('reason'),
    rechargeId: text('recharge_id'),
    amount: micros('amount'),
    balance: micros('balance').notNull(),
    threshold: micros('threshold').notNull(),
    cycleKey: text('cycle_key').notNull(),
    cycleTotal: micros('cycle_total').notNull(),
    maxPerCycle: micros('max_per_cycle').notNull(),
    statusAfter: text('status_after').notNull(),
    failureCode: text('failure_code'),
    declineCode: text('decline_code'),
    createdAt: createdAt(),
  },
  (t) => [index('decisions_merchant_created_idx').on(t.merchantId, t.createdAt)],
);

/** Where a merchant receives notifications (SPEC 3.8), and the secret that signs them. */
export const webhookEndpoints = pgTable('webhook_endpoints', {
  merchantId: text('merchant_id')
    .primaryKey()
    .references(() => merchants.id),
  url: text('url').notNull(),
  /** Shared with the merchant once, when the endpoint is saved; signs every event. */
  secret: text('secret').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** One notification event; its id is what the merchant deduplicates on. */
export const notifications = pgTable(
  'notifications',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [index('notifications_merchant_created_idx').on(t.merchantId, t.createdAt)],
);

/** Every delivery attempt of a notification, with what the merchant's server answered. */
export const notificationAttempts = pgTable(
  'notification_attempts',
  {
    notificationId: text('notification_id')
      .notNull()
      .references(() => notifications.id),
    attempt: integer('attempt').notNull(),
    url: text('url').notNull(),
    /** HTTP status, or null when no answer came (refused, timed out). */
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.notificationId, t.attempt] })],
);

/** Stripe webhook events already handled: Stripe delivers at least once. */
export const stripeEvents = pgTable('stripe_events', {
  id: text('id').primaryKey(),
  type: text('type').notNull(),
  paymentIntentId: text('payment_intent_id'),
  merchantId: text('merchant_id'),
  receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
});
