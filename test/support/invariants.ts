/**
 * What must hold however the system was shaken (crashes, faults, kills), checked over
 * Postgres and the Stripe sandbox for a set of merchants. Checks answer violations rather
 * than throwing, so that a chaos run reports all of them; `assertInvariants` throws.
 *
 *   await waitForSettled(sources, merchantIds, { reconcile: () => runReconciler(...) });
 *   await assertInvariants(sources, merchantIds);
 *
 * Which cap applies (b): the largest `maxPerCycle` the merchant had in that cycle, read
 * from the cycle's decision log (every charge records the cap it was decided under),
 * else the current settings. Lowering a cap mid-cycle therefore never makes earlier
 * charges a violation; callers that only raise caps get their final cap.
 */
import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import type { DatabaseHandle } from '../../src/db/client';
import { type Currency, fromMinorUnits } from '../../src/domain/currency';
import { MAX_RECHARGES_PER_DAY } from '../../src/domain/recharge-rule';
import { checkInvariants as checkLedger } from '../../src/ledger/invariants';
import type { MerchantWorkflows } from '../../src/merchants/workflow-client';
import { reconcileStrandedMerchants } from '../../src/workflows/reconciler';
import { waitFor } from './wait';

/** The invariants, by name, as a report prints them. */
export const INVARIANTS = {
  balance: '(a) each balance equals the sum of its ledger entries',
  cap: '(b) succeeded recharges of a cycle stay within the largest maxPerCycle of that cycle',
  creditedOnce: '(c) one credit per PaymentIntent, for a succeeded one of that merchant',
  intentCredited: '(d) every succeeded PaymentIntent is credited',
  oneIntent: '(e) at most one succeeded PaymentIntent per recharge and per idempotency key',
  notStranded: '(f) no merchant active below its threshold with nothing in flight',
} as const;
export type InvariantName = keyof typeof INVARIANTS;

export interface Violation {
  readonly invariant: InvariantName;
  readonly merchantId: string;
  readonly message: string;
}

export interface InvariantSources {
  readonly database: DatabaseHandle;
  /** A client of the sandbox the merchants' charges went to. */
  readonly stripe: Stripe;
  /**
   * PaymentIntent id to the idempotency key that created it, when the caller knows it (from
   * Stripe events); otherwise the key is the one on the recharge the PaymentIntent names.
   */
  readonly idempotencyKeys?: ReadonlyMap<string, string>;
}

/** One merchant as the checks see it. Money in micros. */
export interface MerchantFacts {
  readonly id: string;
  readonly balance: number;
  /** What the ledger checker of SPEC 3.2 found wrong; empty when the ledger is sound. */
  readonly ledgerProblems: readonly string[];
  readonly settings: {
    readonly enabled: boolean;
    readonly threshold: number;
    readonly maxPerCycle: number;
    readonly status: string;
  } | null;
  readonly pendingRecharges: number;
  /** Recharges started in the last 24 hours: the runaway guard stops at MAX_RECHARGES_PER_DAY. */
  readonly rechargesInLastDay: number;
}

export interface RechargeFacts {
  readonly id: string;
  readonly merchantId: string;
  readonly cycleKey: string;
  readonly amount: number;
  readonly status: string;
  readonly idempotencyKey: string;
}

export interface CreditFacts {
  readonly merchantId: string;
  readonly paymentIntentId: string;
  readonly amount: number;
  readonly rechargeId: string | null;
}

/** A succeeded PaymentIntent on the Stripe customer of `merchantId`. */
export interface IntentFacts {
  readonly id: string;
  readonly merchantId: string;
  readonly amount: number;
  readonly rechargeId: string | null;
  readonly idempotencyKey: string | null;
}

/** Everything the checks read, taken once; `findViolations` is a pure function of it. */
export interface SystemSnapshot {
  readonly merchants: readonly MerchantFacts[];
  readonly recharges: readonly RechargeFacts[];
  /** Recharge credits of the merchants, and any other merchant's credit of the same intent. */
  readonly credits: readonly CreditFacts[];
  readonly intents: readonly IntentFacts[];
  /** Largest maxPerCycle in each cycle's decision log, keyed `merchantId cycleKey`. */
  readonly decisionCaps: ReadonlyMap<string, number>;
}

const cycleOf = (merchantId: string, cycleKey: string) => `${merchantId} ${cycleKey}`;

function groupBy<T>(items: readonly T[], key: (item: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k !== null) groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

function checkBalances(snapshot: SystemSnapshot): Violation[] {
  return snapshot.merchants.flatMap((merchant) =>
    merchant.ledgerProblems.map((message) => ({
      invariant: 'balance' as const,
      merchantId: merchant.id,
      message,
    })),
  );
}

/** Money taken from the card counts, credited or not: a succeeded row or intent. */
function checkCaps(snapshot: SystemSnapshot): Violation[] {
  const charged = new Set(snapshot.intents.flatMap((intent) => intent.rechargeId ?? []));
  const succeeded = snapshot.recharges.filter(
    (recharge) => recharge.status === 'succeeded' || charged.has(recharge.id),
  );
  const settingsCap = new Map(snapshot.merchants.map((m) => [m.id, m.settings?.maxPerCycle]));
  const violations: Violation[] = [];
  for (const [cycle, group] of groupBy(succeeded, (r) => cycleOf(r.merchantId, r.cycleKey))) {
    const first = group[0];
    if (first === undefined) continue;
    const cap = snapshot.decisionCaps.get(cycle) ?? settingsCap.get(first.merchantId) ?? 0;
    const total = group.reduce((sum, recharge) => sum + recharge.amount, 0);
    if (total <= cap) continue;
    violations.push({
      invariant: 'cap',
      merchantId: first.merchantId,
      message: `cycle ${first.cycleKey}: ${group.length} succeeded recharges total ${total}, cap ${cap}`,
    });
  }
  return violations;
}

function checkCredits(snapshot: SystemSnapshot): Violation[] {
  const intents = new Map(snapshot.intents.map((intent) => [intent.id, intent]));
  const violations: Violation[] = [];
  const flag = (merchantId: string, message: string) =>
    violations.push({ invariant: 'creditedOnce', merchantId, message });
  for (const [intentId, credits] of groupBy(snapshot.credits, (c) => c.paymentIntentId)) {
    const owners = credits.map((credit) => credit.merchantId);
    if (credits.length > 1) flag(owners[0] ?? '', `${intentId} credited ${credits.length} times`);
    for (const credit of credits) {
      const intent = intents.get(intentId);
      if (intent === undefined) {
        flag(credit.merchantId, `${intentId} credited but no succeeded PaymentIntent of ours`);
      } else if (intent.merchantId !== credit.merchantId) {
        flag(credit.merchantId, `${intentId} of ${intent.merchantId} credited to another`);
      } else if (intent.amount !== credit.amount) {
        flag(credit.merchantId, `${intentId} of ${intent.amount} credited ${credit.amount}`);
      } else if (intent.rechargeId !== credit.rechargeId) {
        flag(credit.merchantId, `${intentId} of ${intent.rechargeId} credited to another`);
      }
    }
  }
  return violations;
}

function checkIntentsCredited(snapshot: SystemSnapshot): Violation[] {
  const credited = new Set(snapshot.credits.map((credit) => credit.paymentIntentId));
  return snapshot.intents
    .filter((intent) => !credited.has(intent.id))
    .map((intent) => ({
      invariant: 'intentCredited' as const,
      merchantId: intent.merchantId,
      message: `${intent.id} (recharge ${intent.rechargeId}) succeeded and was never credited`,
    }));
}

function checkOneIntent(snapshot: SystemSnapshot): Violation[] {
  const violations: Violation[] = [];
  const keyOfRecharge = new Map(snapshot.recharges.map((r) => [r.id, r.idempotencyKey]));
  const keyOf = (intent: IntentFacts) =>
    intent.idempotencyKey ?? keyOfRecharge.get(intent.rechargeId ?? '') ?? null;
  const groupings = [
    ['recharge', (intent: IntentFacts) => intent.rechargeId],
    ['idempotency key', keyOf],
  ] as const;
  for (const [what, key] of groupings) {
    for (const [value, group] of groupBy(snapshot.intents, key)) {
      if (group.length < 2) continue;
      violations.push({
        invariant: 'oneIntent',
        merchantId: group[0]?.merchantId ?? '',
        message: `${what} ${value} has ${group.length} succeeded PaymentIntents: ${group
          .map((intent) => intent.id)
          .join(', ')}`,
      });
    }
  }
  return violations;
}

/** The runaway guard may hold a merchant below its threshold: that is not stranded. */
function checkNotStranded(snapshot: Pick<SystemSnapshot, 'merchants'>): Violation[] {
  return snapshot.merchants
    .filter(({ settings, balance, pendingRecharges, rechargesInLastDay }) => {
      if (settings === null || !settings.enabled || settings.status !== 'active') return false;
      return (
        balance < settings.threshold &&
        pendingRecharges === 0 &&
        rechargesInLastDay < MAX_RECHARGES_PER_DAY
      );
    })
    .map((merchant) => ({
      invariant: 'notStranded' as const,
      merchantId: merchant.id,
      message: `active at ${merchant.balance}, below ${merchant.settings?.threshold}, idle`,
    }));
}

/** Every violation in the snapshot, in the order of INVARIANTS. */
export function findViolations(snapshot: SystemSnapshot): Violation[] {
  return [
    ...checkBalances(snapshot),
    ...checkCaps(snapshot),
    ...checkCredits(snapshot),
    ...checkIntentsCredited(snapshot),
    ...checkOneIntent(snapshot),
    ...checkNotStranded(snapshot),
  ];
}

interface MerchantRow {
  id: string;
  currency: Currency;
  stripe_customer_id: string | null;
  balance: number;
  enabled: boolean | null;
  threshold: number | null;
  max_per_cycle: number | null;
  status: string | null;
  pending: number;
  recent: number;
}

async function readMerchants(sources: InvariantSources, ids: readonly string[]) {
  const { sql } = sources.database;
  return sql<MerchantRow[]>`
    select m.id, m.currency, m.stripe_customer_id, m.balance, s.enabled, s.threshold,
      s.max_per_cycle, s.status,
      (select count(*) from recharges r
        where r.merchant_id = m.id and r.status = 'pending')::int4 as pending,
      (select count(*) from recharges r
        where r.merchant_id = m.id and r.created_at > now() - interval '24 hours')::int4 as recent
    from merchants m left join auto_reload_settings s on s.merchant_id = m.id
    where m.id in ${sql(ids)}`;
}

async function merchantFacts(sources: InvariantSources, row: MerchantRow): Promise<MerchantFacts> {
  const ledger = await checkLedger(sources.database.sql, row.id);
  const settings =
    row.enabled === null
      ? null
      : {
          enabled: row.enabled,
          threshold: row.threshold ?? 0,
          maxPerCycle: row.max_per_cycle ?? 0,
          status: row.status ?? '',
        };
  return {
    id: row.id,
    balance: row.balance,
    ledgerProblems: ledger.violations,
    settings,
    pendingRecharges: row.pending,
    rechargesInLastDay: row.recent,
  };
}

/** Succeeded PaymentIntents of the merchant's customer, listed through the Stripe API. */
async function succeededIntents(
  sources: InvariantSources,
  row: MerchantRow,
): Promise<IntentFacts[]> {
  if (row.stripe_customer_id === null) return [];
  const found: IntentFacts[] = [];
  const listing = sources.stripe.paymentIntents.list({
    customer: row.stripe_customer_id,
    limit: 100,
  });
  for await (const intent of listing) {
    if (intent.status !== 'succeeded') continue;
    found.push({
      id: intent.id,
      merchantId: row.id,
      amount: fromMinorUnits(intent.amount, row.currency),
      rechargeId: intent.metadata?.recharge_id ?? null,
      idempotencyKey: sources.idempotencyKeys?.get(intent.id) ?? null,
    });
  }
  return found;
}

/** Reads what the checks need, for these merchants, from Postgres and Stripe. */
export async function readSnapshot(
  sources: InvariantSources,
  merchantIds: readonly string[],
): Promise<SystemSnapshot> {
  const { sql } = sources.database;
  const ids = merchantIds.length > 0 ? merchantIds : [''];
  const rows = await readMerchants(sources, ids);
  const merchants = await Promise.all(rows.map((row) => merchantFacts(sources, row)));
  const intents = (await Promise.all(rows.map((row) => succeededIntents(sources, row)))).flat();
  const recharges = await sql<RechargeFacts[]>`
    select id, merchant_id as "merchantId", cycle_key as "cycleKey", amount, status,
      idempotency_key as "idempotencyKey"
    from recharges where merchant_id in ${sql(ids)}`;
  const credits = await sql<CreditFacts[]>`
    select merchant_id as "merchantId", external_id as "paymentIntentId", amount,
      recharge_id as "rechargeId"
    from ledger_entries
    where kind = 'recharge' and external_id in (
      select external_id from ledger_entries
      where kind = 'recharge' and merchant_id in ${sql(ids)})`;
  const caps = await sql<{ merchantId: string; cycleKey: string; cap: number }[]>`
    select merchant_id as "merchantId", cycle_key as "cycleKey", max(max_per_cycle) as cap
    from decisions where merchant_id in ${sql(ids)} group by merchant_id, cycle_key`;
  return {
    merchants,
    recharges,
    credits,
    intents,
    decisionCaps: new Map(caps.map((c) => [cycleOf(c.merchantId, c.cycleKey), c.cap])),
  };
}

/** Every invariant over these merchants; an empty list when all hold. Never throws on one. */
export async function checkInvariants(
  sources: InvariantSources,
  merchantIds: readonly string[],
): Promise<Violation[]> {
  return findViolations(await readSnapshot(sources, merchantIds));
}

/** One line per violation, for reports and assertion messages. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations
    .map((v) => `${INVARIANTS[v.invariant].slice(0, 3)} ${v.merchantId}: ${v.message}`)
    .join('\n');
}

/** Throws with every violation at once. */
export async function assertInvariants(
  sources: InvariantSources,
  merchantIds: readonly string[],
): Promise<void> {
  const violations = await checkInvariants(sources, merchantIds);
  if (violations.length === 0) return;
  throw new Error(`${violations.length} invariant violations:\n${describeViolations(violations)}`);
}

export interface SettleOptions {
  /** @default 60_000 */
  readonly timeoutMs?: number;
  /**
   * When given, also waits until every merchant's workflow has no charge in flight and has
   * published its status.
   */
  readonly workflows?: Pick<MerchantWorkflows, 'getState'>;
  /**
   * Called (at most every `reconcileEveryMs`) while some merchant looks stranded: a lost
   * balance signal is only repaired by the reconciler. See `runReconciler`.
   */
  readonly reconcile?: () => Promise<unknown>;
  /** @default 3_000 */
  readonly reconcileEveryMs?: number;
}

/** The status Postgres holds is the workflow's (a merchant without settings has none). */
function publishedAs(row: MerchantRow | undefined, status: string): boolean {
  return row?.status == null || row.status === status;
}

/**
 * Every workflow has nothing in flight and has published the status it holds. A status not
 * yet written to Postgres means the main loop is still between a change and its decision
 * (a card saved, say, with the charge it allows about to start): not idle yet.
 */
async function workflowsIdle(
  workflows: Pick<MerchantWorkflows, 'getState'>,
  rows: readonly MerchantRow[],
): Promise<boolean> {
  const states = await Promise.all(rows.map((row) => workflows.getState(row.id)));
  return states.every(
    (state, index) =>
      state.inFlight === null &&
      state.status !== 'recharging' &&
      publishedAs(rows[index], state.status),
  );
}

/**
 * Waits until nothing is in flight (no pending recharge, and no charge in any workflow
 * when `workflows` is given) and invariant (f) holds; fails loudly after `timeoutMs`,
 * naming the merchants still unsettled.
 */
export async function waitForSettled(
  sources: InvariantSources,
  merchantIds: readonly string[],
  options: SettleOptions = {},
): Promise<void> {
  let lastReconcile = 0;
  let unsettled = 'not checked yet';
  const probe = async (): Promise<true | undefined> => {
    const rows = await readMerchants(sources, merchantIds);
    const pending = rows.filter((row) => row.pending > 0).map((row) => row.id);
    const snapshot = { merchants: rows.map(settlingFacts) };
    const stranded = checkNotStranded(snapshot).map((v) => v.merchantId);
    unsettled = `pending: [${pending.join(', ')}], stranded: [${stranded.join(', ')}]`;
    if (stranded.length > 0 && options.reconcile) {
      const everyMs = options.reconcileEveryMs ?? 3_000;
      if (Date.now() - lastReconcile >= everyMs) {
        lastReconcile = Date.now();
        await options.reconcile();
      }
    }
    if (pending.length > 0 || stranded.length > 0) return undefined;
    if (options.workflows && !(await workflowsIdle(options.workflows, rows))) {
      unsettled = 'a workflow still has a charge in flight or a status to publish';
      return undefined;
    }
    return true;
  };
  const timeoutMs = options.timeoutMs ?? 60_000;
  await waitFor('the system to settle', probe, timeoutMs, 250).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; ${unsettled}`);
  });
}

/** Facts enough for invariant (f), without the ledger check. */
function settlingFacts(row: MerchantRow): MerchantFacts {
  return {
    id: row.id,
    balance: row.balance,
    ledgerProblems: [],
    settings:
      row.enabled === null
        ? null
        : {
            enabled: row.enabled,
            threshold: row.threshold ?? 0,
            maxPerCycle: row.max_per_cycle ?? 0,
            status: row.status ?? '',
          },
    pendingRecharges: row.pending,
    rechargesInLastDay: row.recent,
  };
}

/**
 * Runs the reconciler once for these merchants on the worker's task queue, as its schedule
 * would; bounded by `timeoutMs` so that a dead worker fails the call instead of hanging it.
 */
export async function runReconciler(
  client: Client,
  taskQueue: string,
  merchantIds: readonly string[],
  timeoutMs = 20_000,
): Promise<void> {
  await client.workflow.execute(reconcileStrandedMerchants, {
    workflowId: `reconcile-now-${process.pid}-${Date.now()}`,
    taskQueue,
    args: [{ merchantIds: [...merchantIds] }],
    workflowExecutionTimeout: timeoutMs,
  });
}
