/**
 * In-memory AutoReloadActivities for workflow tests: a ledger per merchant that tests move
 * by hand, scripted charge outcomes, and a record of every call for exact assertions.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import {
  type AutoReloadActivities,
  type BalanceAfter,
  type ChargeFailureDetails,
  type ChargeLookupRequest,
  type ChargeNotFound,
  type ChargeRequest,
  type ChargeSucceeded,
  type DecisionRecord,
  type FundingMeasure,
  type LateRechargeRequest,
  type LateRechargeSettlement,
  type MerchantSnapshot,
  CHARGE_FAILURE_TYPES,
} from '../../src/activities/contract';
import type { AutoReloadSettings, AutoReloadStatus } from '../../src/domain/auto-reload';
import { billingCycleAt } from '../../src/domain/billing-cycle';
import { retryDelayAfterSoftDecline } from '../../src/domain/dunning';
import type { Currency } from '../../src/domain/currency';
import { type Micros, ZERO, addMicros, parseMoney, subtractMicros } from '../../src/domain/money';
import { uniqueTaskQueue, workflowBundle } from './temporal';
import { BASE_SETTINGS } from './settings';

export { BASE_SETTINGS };

type ActivityName = keyof AutoReloadActivities;
type InputOf<K extends ActivityName> = Parameters<AutoReloadActivities[K]>[0];

/** How the next charge ends; a declined one throws what the real activity would throw. */
export type ChargeScript =
  | { readonly outcome: 'succeed' }
  | {
      readonly outcome: keyof typeof CHARGE_FAILURE_TYPES;
      readonly code?: string;
      readonly declineCode?: string;
    }
  /** A non-retryable failure of no charge type: the workflow must treat it as unknown. */
  | { readonly outcome: 'unclassified' };

export interface FakeMerchantOptions {
  readonly currency?: Currency;
  readonly billingCycleAnchor?: string;
  readonly settings?: Partial<AutoReloadSettings>;
  readonly hasPaymentMethod?: boolean;
  readonly balance: string;
  readonly cycleTotal?: string;
  /** Defaults to the cycle containing the test process's now. */
  readonly cycleKey?: string;
}

/** Settings most tests start from: usd, enabled, threshold 10, amount 20, cap 100. */

export class FakeMerchant {
  balance: Micros;
  ledgerSeq = 1;
  settings: AutoReloadSettings;
  status: AutoReloadStatus | null = null;
  /** Consumed one per charge; an empty script succeeds. */
  readonly chargeScript: ChargeScript[] = [];
  /**
   * Consumed one per lookup of an unclear charge: `found` answers the last charge's
   * PaymentIntent as succeeded; an empty script finds nothing.
   */
  readonly lookupScript: ('found' | 'not_found')[] = [];
  readonly calls: { readonly name: ActivityName; readonly input: unknown }[] = [];
  /**
   * A ledger fault for the runaway guard's tests: credits take a sequence number but never
   * reach the balance, so each recharge leaves the merchant as low as before.
   */
  creditsVanish = false;
  private readonly credited = new Map<string, BalanceAfter>();
  /** Usage debits by sequence number, for measureFunding. */
  private readonly usage: { readonly seq: number; readonly amount: Micros }[] = [];
  private readonly gates: Record<'charge' | 'credit' | 'notification', Promise<void> | null> = {
    charge: null,
    credit: null,
    notification: null,
  };
  private chargeCount = 0;

  constructor(
    readonly merchantId: string,
    private readonly options: FakeMerchantOptions,
  ) {
    this.balance = parseMoney(options.balance);
    this.settings = { ...BASE_SETTINGS, ...options.settings };
  }

  /** A usage debit on the fake ledger; answers the payload of the balanceChanged signal. */
  debit(amount: string): BalanceAfter {
    this.balance = subtractMicros(this.balance, parseMoney(amount));
    this.ledgerSeq += 1;
    this.usage.push({ seq: this.ledgerSeq, amount: parseMoney(amount) });
    return { balance: this.balance, ledgerSeq: this.ledgerSeq };
  }

  /** An operator's manual credit on the fake ledger; answers the balanceChanged payload. */
  creditManually(amount: string): BalanceAfter {
    this.balance = addMicros(this.balance, parseMoney(amount));
    this.ledgerSeq += 1;
    return { balance: this.balance, ledgerSeq: this.ledgerSeq };
  }

  /** Charges wait until the returned function is called (a slow card network). */
  holdCharges(): () => void {
    return this.hold('charge');
  }

  /** Credits wait until the returned function is called (a slow ledger write). */
  holdCredits(): () => void {
    return this.hold('credit');
  }

  /** Notification deliveries wait until the returned function is called (a server down). */
  holdNotifications(): () => void {
    return this.hold('notification');
  }

  /** Resolves when notifications may be delivered. */
  async notificationGate(): Promise<void> {
    if (this.gates.notification) await this.gates.notification;
  }

  /** Resolves when credits may go ahead. */
  async creditGate(): Promise<void> {
    if (this.gates.credit) await this.gates.credit;
  }

  private hold(kind: 'charge' | 'credit' | 'notification'): () => void {
    let release = (): void => undefined;
    this.gates[kind] = new Promise<void>((resolve) => {
      release = () => {
        this.gates[kind] = null;
        resolve();
      };
    });
    return release;
  }

  callsOf<K extends ActivityName>(name: K): InputOf<K>[] {
    return this.calls.filter((call) => call.name === name).map((call) => call.input as InputOf<K>);
  }

  decisions(): DecisionRecord[] {
    return this.callsOf('recordDecision').map((input) => input.decision);
  }

  record<K extends ActivityName>(name: K, input: InputOf<K>): void {
    this.calls.push({ name, input });
  }

  snapshot(): MerchantSnapshot {
    const anchor = this.options.billingCycleAnchor ?? '2026-01-01T00:00:00.000Z';
    return {
      merchantId: this.merchantId,
      currency: this.options.currency ?? 'usd',
      billingCycleAnchor: anchor,
      settings: this.settings,
      hasPaymentMethod: this.options.hasPaymentMethod ?? true,
      balance: this.balance,
      ledgerSeq: this.ledgerSeq,
      cycleKey: this.options.cycleKey ?? billingCycleAt(anchor, Date.now()).key,
      cycleTotal:
        this.options.cycleTotal === undefined ? ZERO : parseMoney(this.options.cycleTotal),
    };
  }

  /** Like the ledger's readFunding: the balance, and the usage after `afterSeq`. */
  funding(afterSeq: number): FundingMeasure {
    const usedAfterSeq = this.usage
      .filter((debit) => debit.seq > afterSeq)
      .reduce<Micros>((total, debit) => addMicros(total, debit.amount), ZERO);
    return { balance: this.balance, ledgerSeq: this.ledgerSeq, usedAfterSeq };
  }

  /** Like the real lookup: the last charge's PaymentIntent, or nothing with the schedule's wait. */
  lookUp(request: ChargeLookupRequest): ChargeSucceeded | ChargeNotFound {
    if (this.lookupScript.shift() === 'found') {
      return { paymentIntentId: `pi_fake_${this.merchantId}_${this.chargeCount}` };
    }
    const retryInMs = retryDelayAfterSoftDecline(null, request.softDeclinesInARow);
    return { paymentIntentId: null, retryInMs };
  }

  async charge(request: ChargeRequest): Promise<{ paymentIntentId: string }> {
    if (this.gates.charge) await this.gates.charge;
    this.chargeCount += 1;
    const paymentIntentId = `pi_fake_${this.merchantId}_${this.chargeCount}`;
    const script = this.chargeScript.shift() ?? { outcome: 'succeed' };
    if (script.outcome === 'succeed') return { paymentIntentId };
    if (script.outcome === 'unclassified') {
      throw ApplicationFailure.nonRetryable('Unexpected processor answer', 'UnexpectedAnswer');
    }
    const declineCode = script.declineCode ?? null;
    const details: ChargeFailureDetails = {
      code: script.code ?? 'card_declined',
      declineCode,
      paymentIntentId,
      message: `Fake ${script.outcome}`,
      // The real activity decides the retry schedule's wait with the decline.
      ...(script.outcome === 'softDecline' && {
        retryInMs: retryDelayAfterSoftDecline(declineCode, request.softDeclinesInARow ?? 0),
      }),
    };
    throw ApplicationFailure.create({
      type: CHARGE_FAILURE_TYPES[script.outcome],
      message: details.message,
      nonRetryable: true,
      details: [details],
    });
  }

  /**
   * Credits a late success like the real activity: only a recharge this fake charged, at
   * its amount, once per PaymentIntent.
   */
  settleLate(request: LateRechargeRequest): LateRechargeSettlement {
    const charge = this.callsOf('chargeCard').find((c) => c.rechargeId === request.rechargeId);
    if (!charge) return { outcome: 'refused', reason: 'unknown_recharge' };
    if (charge.amount !== request.amount) return { outcome: 'refused', reason: 'amount_mismatch' };
    const repeated = this.credited.has(request.paymentIntentId);
    const balanceAfter = this.credit(request.paymentIntentId, charge.amount);
    const outcome = repeated ? 'already_credited' : 'credited';
    return { outcome, amount: charge.amount, cycleKey: charge.cycleKey, balanceAfter };
  }

  /** Idempotent by PaymentIntent id, as the real credit is. */
  credit(paymentIntentId: string, amount: Micros): BalanceAfter {
    const earlier = this.credited.get(paymentIntentId);
    if (earlier) return earlier;
    if (!this.creditsVanish) this.balance = addMicros(this.balance, amount);
    this.ledgerSeq += 1;
    const after = { balance: this.balance, ledgerSeq: this.ledgerSeq };
    this.credited.set(paymentIntentId, after);
    return after;
  }
}

let merchantCounter = 0;

/** Fakes for every merchant a test file uses; one instance serves one worker. */
export class FakeActivities {
  private readonly merchants = new Map<string, FakeMerchant>();

  readonly activities: AutoReloadActivities = {
    loadMerchant: async (merchantId) => {
      const merchant = await this.find(merchantId);
      merchant.record('loadMerchant', merchantId);
      return merchant.snapshot();
    },
    saveSettings: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('saveSettings', request);
      merchant.settings = request.settings;
      return { balance: merchant.balance, ledgerSeq: merchant.ledgerSeq };
    },
    saveStatus: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('saveStatus', request);
      merchant.status = request.status;
    },
    chargeCard: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('chargeCard', request);
      return merchant.charge(request);
    },
    lookUpCharge: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('lookUpCharge', request);
      return merchant.lookUp(request);
    },
    creditRecharge: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('creditRecharge', request);
      await merchant.creditGate();
      return merchant.credit(request.paymentIntentId, request.amount);
    },
    measureFunding: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('measureFunding', request);
      return merchant.funding(request.afterSeq);
    },
    recordDecision: async (input) => {
      (await this.find(input.merchantId)).record('recordDecision', input);
    },
    settleLateRecharge: async (request) => {
      const merchant = await this.find(request.merchantId);
      merchant.record('settleLateRecharge', request);
      return merchant.settleLate(request);
    },
    notifyMerchant: async (request) => {
      const merchant = await this.find(request.merchantId);
      await merchant.notificationGate();
      merchant.record('notifyMerchant', request);
      return { delivered: true };
    },
  };

  /** A new merchant with a unique id, so tests sharing a server never collide. */
  addMerchant(options: FakeMerchantOptions): FakeMerchant {
    merchantCounter += 1;
    const merchantId = `m_${process.pid}_${Date.now()}_${merchantCounter}`;
    const merchant = new FakeMerchant(merchantId, options);
    this.merchants.set(merchantId, merchant);
    return merchant;
  }

  /** Rejects like a real activity would for a merchant the test never added. */
  private find(merchantId: string): Promise<FakeMerchant> {
    const merchant = this.merchants.get(merchantId);
    return merchant
      ? Promise.resolve(merchant)
      : Promise.reject(ApplicationFailure.nonRetryable(`No merchant ${merchantId}`, 'NotFound'));
  }
}

export interface FakeWorker {
  readonly taskQueue: string;
  /** Stops polling and waits for the worker to finish; call it in `after`. */
  stop(): Promise<void>;
}

/** Runs a worker with the bundled merchant workflow and these fakes until `stop()`. */
export async function startFakeWorker(
  env: TestWorkflowEnvironment,
  fakes: FakeActivities,
): Promise<FakeWorker> {
  const taskQueue = uniqueTaskQueue('wf');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fakes.activities,
    maxCachedWorkflows: 100,
  });
  const running = worker.run();
  return {
    taskQueue,
    stop: async () => {
      worker.shutdown();
      await running;
    },
  };
}
