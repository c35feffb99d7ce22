/**
 * One recharge from decision to settlement: record it, charge the card, credit the ledger
 * or record the failure. Runs beside the main loop, so that debits, Updates and cycle ends
 * are still handled (and recorded as `in_flight` skips) while a charge takes its time.
 */
import { log, patched, uuid4 } from '@temporalio/workflow';
import {
  type BalanceAfter,
  type ChargeRequest,
  type DecisionRecord,
  CHARGE_FAILURE_TYPES,
} from '../activities/contract';
import type { AutoReloadStatus } from '../domain/auto-reload';
import type { PaymentProblem } from '../domain/recharge-rule';
import { type Micros, addMicros, subtractMicros } from '../domain/money';
import { chargeLookups, charges, credits } from './activities';
import type { Dunning, DunningPlan } from './dunning';
import { type ChargeFailure, chargeFailureOf, failureResponse } from './charge-failure';
import type { MerchantNotifier } from './notifications';
import {
  type InFlightRecharge,
  type MerchantState,
  type SettledRechargeStatus,
  deriveStatus,
  nowIso,
} from './state';

/** What a recharge needs from the workflow that owns the state. */
export interface RechargeHooks {
  /** `statusAfter` defaults to the status of the state as it is now. */
  recordDecision(decision: DecisionRecord, statusAfter?: AutoReloadStatus): Promise<void>;
  applyBalance(after: BalanceAfter): boolean;
  /** A recharge was credited: the runaway guard counts it, with its ledger sequence number. */
  recordCredit(amount: Micros, ledgerSeq: number): void;
  requestEvaluation(): void;
}

/**
 * Level by meaning: a configuration error needs an operator (keys, customer, card setup),
 * an unknown outcome may hide a charge that was never credited, and declines are the
 * merchant's business, told through status and the decision log.
 */
function logFailure(attributes: { failureType: ChargeFailure['type'] } & Record<string, unknown>) {
  if (attributes.failureType === CHARGE_FAILURE_TYPES.configuration) {
    log.error('Recharge failed', attributes);
  } else if (attributes.failureType === 'unknown') {
    log.warn('Recharge failed', attributes);
  } else {
    log.info('Recharge failed', attributes);
  }
}

/** Marks histories in which the charge no longer waits for its decision row. */
const DECISION_BESIDE_CHARGE_PATCH = 'decision-beside-charge';
/** Marks histories in which a decline of a card replaced meanwhile sets no problem. */
const REPLACED_CARD_PATCH = 'decline-of-replaced-card';
/** Failures that belong to the card charged, which a newer card does not share. */
const CARD_DECLINES: ReadonlySet<string> = new Set([
  CHARGE_FAILURE_TYPES.softDecline,
  CHARGE_FAILURE_TYPES.hardDecline,
  CHARGE_FAILURE_TYPES.authenticationRequired,
]);

/** Marks histories in which an unclear charge is looked up and may get a fresh key. */
const OUTCOME_LOOKUP_PATCH = 'outcome-lookup';

/** Keys one recharge may use: its first, then fresh ones after lookups that found nothing. */
export const MAX_KEYS_PER_RECHARGE = 3;

/** SPEC 3.6: derived from durable state only, never from run or activity ids. */
function idempotencyKeyOf(merchantId: string, cycleKey: string, attempt: number): string {
  return `auto-reload:${merchantId}:${cycleKey}:${attempt}`;
}

/**
 * Every key was tried and looked up, and no PaymentIntent exists: Stripe could not be
 * reached, and nothing was charged. The retry schedule then applies as for a soft decline.
 */
function nothingCharged(last: ChargeFailure | null, retryInMs: number | null): ChargeFailure {
  return {
    type: 'unknown',
    code: 'stripe_unavailable',
    declineCode: null,
    paymentIntentId: null,
    message: `Stripe did not answer the charge under ${MAX_KEYS_PER_RECHARGE} keys and holds no PaymentIntent for it; nothing was charged (${last?.message ?? 'no answer'})`,
    retryInMs,
  };
}

/** How a charge activity ended, with its failure classified (see charge-failure.ts). */
type ChargeActivityOutcome =
  | { readonly kind: 'charged'; readonly paymentIntentId: string }
  | { readonly kind: 'failed'; readonly failure: ChargeFailure }
  | { readonly kind: 'not_found'; readonly retryInMs: number | null };

async function settled(
  call: Promise<{ paymentIntentId: string | null; retryInMs?: number | null }>,
): Promise<ChargeActivityOutcome> {
  try {
    const answer = await call;
    if (answer.paymentIntentId !== null) {
      return { kind: 'charged', paymentIntentId: answer.paymentIntentId };
    }
    return { kind: 'not_found', retryInMs: answer.retryInMs ?? null };
  } catch (error) {
    const failure = chargeFailureOf(error);
    if (failure === undefined) throw error;
    return { kind: 'failed', failure };
  }
}

/**
 * What a failure leaves: the payment problem it sets (none for a replaced card's decline)
 * and the recharge's status. A soft decline's plan says which problem.
 */
function failureOutcome(
  type: ChargeFailure['type'],
  plan: DunningPlan | undefined,
  oldCard: boolean,
): { readonly problem: PaymentProblem | null; readonly rechargeStatus: SettledRechargeStatus } {
  if (plan) return { problem: plan.problem, rechargeStatus: 'failed' };
  const response = failureResponse(type);
  return oldCard ? { ...response, problem: null } : response;
}

/** Runs at most one recharge at a time, beside the main loop that decides to start it. */

export class RechargeRunner {
  private isRunning = false;
  private crash: { readonly error: unknown } | null = null;

  constructor(
    private readonly state: MerchantState,
    private readonly hooks: RechargeHooks,
    private readonly notifier: MerchantNotifier,
    private readonly dunning: Dunning,
  ) {}

  /** True from the decision until settlement is fully recorded; blocks continue-as-new. */
  get running(): boolean {
    return this.isRunning;
  }

  get crashed(): boolean {
    return this.crash !== null;
  }

  /** Surfaces an unexpected error of the charge coroutine in the main loop. */
  throwIfCrashed(): void {
    if (this.crash !== null) throw this.crash.error;
  }

  /** Starts charging `amount`; only the main loop calls this, after the rule said charge. */
  start(amount: Micros): void {
    if (this.isRunning || this.state.inFlight !== null) {
      throw new Error('Refusing a second recharge while one is in flight');
    }
    const recharge = this.open(amount);
    this.isRunning = true;
    this.run(recharge).then(
      () => {
        this.isRunning = false;
      },
      (error: unknown) => {
        this.isRunning = false;
        this.crash = { error };
        log.error('Recharge crashed', { rechargeId: recharge.rechargeId, error });
      },
    );
  }

  /** Counts the charge in the cycle before anything is awaited, so the cap sees it. */
  private open(amount: Micros): InFlightRecharge {
    const s = this.state;
    s.attemptsMade += 1;
    const attempt = s.attemptsMade;
    const recharge: InFlightRecharge = {
      rechargeId: `rch_${uuid4()}`,
      amount,
      attempt,
      cycleKey: s.cycle.key,
      idempotencyKey: idempotencyKeyOf(s.merchantId, s.cycle.key, attempt),
      startedAt: nowIso(),
      paymentMethodsSavedBefore: s.paymentMethodsSaved ?? 0,
    };
    s.inFlight = recharge;
    s.cycle.total = addMicros(s.cycle.total, amount);
    s.cycle.inFlight = addMicros(s.cycle.inFlight, amount);
    s.capReachedCycleKey = null;
    return recharge;
  }

  private async run(recharge: InFlightRecharge): Promise<void> {
    const { rechargeId, amount, attempt, cycleKey } = recharge;
    // The decision row and the charge start in the same workflow task: writing the log
    // first added a whole activity round trip between a debit and the charge. Histories
    // recorded before this change wrote the row first; the patch keeps them replayable.
    const decision: DecisionRecord = { outcome: 'charged', rechargeId, amount };
    const decisionRecorded = patched(DECISION_BESIDE_CHARGE_PATCH)
      ? this.hooks.recordDecision(decision)
      : await this.hooks.recordDecision(decision);
    log.info('Recharge started', { rechargeId, amount, attempt, cycleKey });

    const outcome = await this.chargeUntilKnown(recharge);
    await decisionRecorded;
    // The recharge may carry a fresh key by now: settle the one in flight.
    const settling = this.state.inFlight ?? recharge;
    if (typeof outcome === 'string') await this.succeed(settling, outcome);
    else await this.fail(settling, outcome);
  }

  /**
   * Charges until the outcome is known: the PaymentIntent id, or why nothing was charged.
   * When the charge ends unclear (retries spent, or its key too old), the PaymentIntent is
   * looked up first; only if there is none is a fresh key minted, at most
   * MAX_KEYS_PER_RECHARGE in all, so that Stripe's idempotency never stands alone.
   */
  private async chargeUntilKnown(first: InFlightRecharge): Promise<string | ChargeFailure> {
    let recharge = first;
    for (let keysUsed = 1; ; keysUsed += 1) {
      const charged = await settled(charges.chargeCard(this.chargeRequest(recharge)));
      if (charged.kind === 'charged') return charged.paymentIntentId;
      const unclear = charged.kind === 'failed' ? charged.failure : undefined;
      if (unclear?.type !== 'unknown' || !patched(OUTCOME_LOOKUP_PATCH)) {
        return unclear ?? nothingCharged(null, null);
      }
      log.warn('Recharge outcome unclear; looking it up', {
        rechargeId: recharge.rechargeId,
        idempotencyKey: recharge.idempotencyKey,
        reason: unclear.message,
      });
      const request = {
        merchantId: this.state.merchantId,
        rechargeId: recharge.rechargeId,
        softDeclinesInARow: this.softDeclinesInARow(),
      };
      const found = await settled(chargeLookups.lookUpCharge(request));
      if (found.kind === 'charged') return found.paymentIntentId;
      if (found.kind === 'failed') return found.failure;
      if (keysUsed >= MAX_KEYS_PER_RECHARGE) return nothingCharged(unclear, found.retryInMs);
      recharge = this.mintFreshKey(recharge);
    }
  }

  private chargeRequest(recharge: InFlightRecharge): ChargeRequest {
    const { rechargeId, cycleKey, attempt, amount, idempotencyKey } = recharge;
    return {
      merchantId: this.state.merchantId,
      rechargeId,
      cycleKey,
      attempt,
      amount,
      idempotencyKey,
      keyMintedAt: recharge.keyMintedAt ?? recharge.startedAt,
      softDeclinesInARow: this.softDeclinesInARow(),
    };
  }

  private softDeclinesInARow(): number {
    return this.state.dunning?.softDeclines ?? 0;
  }

  /** The same recharge under a new attempt number, hence a new key (SPEC 3.6). */
  private mintFreshKey(recharge: InFlightRecharge): InFlightRecharge {
    const s = this.state;
    s.attemptsMade += 1;
    const fresh: InFlightRecharge = {
      ...recharge,
      attempt: s.attemptsMade,
      idempotencyKey: idempotencyKeyOf(s.merchantId, recharge.cycleKey, s.attemptsMade),
      keyMintedAt: nowIso(),
    };
    s.inFlight = fresh;
    log.info('Fresh idempotency key minted', {
      rechargeId: fresh.rechargeId,
      idempotencyKey: fresh.idempotencyKey,
    });
    return fresh;
  }

  /**
   * Takes the charge out of flight. A charge that settles after its cycle ended counted
   * only in that old cycle, which is gone; the new cycle never included it.
   */
  private close(recharge: InFlightRecharge, succeeded: boolean): void {
    const s = this.state;
    s.inFlight = null;
    // Not running from this step on (its callers await nothing after it), rather than in
    // run()'s callback some microtasks later: a signal in the same activation as the credit
    // can wake the main loop in between, and it must not find a charge neither in flight
    // nor finished (it would refuse to start the next one and fail the workflow task).
    this.isRunning = false;
    if (recharge.cycleKey !== s.cycle.key) return;
    s.cycle.inFlight = subtractMicros(s.cycle.inFlight, recharge.amount);
    if (!succeeded) s.cycle.total = subtractMicros(s.cycle.total, recharge.amount);
  }

  private async succeed(recharge: InFlightRecharge, paymentIntentId: string): Promise<void> {
    const { rechargeId, amount } = recharge;
    const merchantId = this.state.merchantId;
    const after = await credits.creditRecharge({ merchantId, rechargeId, paymentIntentId, amount });
    this.hooks.applyBalance(after);
    this.hooks.recordCredit(amount, after.ledgerSeq);
    this.close(recharge, true);
    this.dunning.reset();
    const at = nowIso();
    this.state.lastRecharge = { id: rechargeId, amount, status: 'succeeded', paymentIntentId, at };
    log.info('Recharge succeeded', { rechargeId, amount, paymentIntentId });
    this.notifier.rechargeSucceeded(recharge, paymentIntentId, after.balance);
    // Still below the threshold? Then the rule applies again, as a separate capped charge.
    this.hooks.requestEvaluation();
  }

  /**
   * Records the failure before the state shows it, so that whoever reads the new status
   * (API, operator) already finds its reason in the decision log.
   */
  private async fail(recharge: InFlightRecharge, failure: ChargeFailure): Promise<void> {
    const { rechargeId, amount } = recharge;
    const { type: failureType, code, declineCode, paymentIntentId } = failure;
    // A soft decline follows the dunning schedule: a retry later, or payment_failed at its end.
    // So does a charge that never reached Stripe under any key (see nothingCharged).
    const followsSchedule =
      failureType === CHARGE_FAILURE_TYPES.softDecline ||
      (failureType === 'unknown' && failure.retryInMs !== undefined);
    const oldCard = this.declinedCardReplaced(recharge, failureType);
    const plan =
      followsSchedule && !oldCard
        ? this.dunning.planAfterSoftDecline(failure.retryInMs)
        : undefined;
    const response = failureOutcome(failureType, plan, oldCard);
    logFailure({ rechargeId, failureType, code, declineCode, message: failure.message });

    const decision: DecisionRecord = {
      outcome: 'failed',
      rechargeId,
      amount,
      failureType,
      code,
      declineCode,
    };
    const after = { ...this.state, inFlight: null, paymentProblem: response.problem };
    await this.hooks.recordDecision(decision, deriveStatus(after));

    this.close(recharge, false);
    this.state.paymentProblem = response.problem;
    if (plan) this.dunning.apply(plan);
    this.state.lastRecharge = {
      id: rechargeId,
      amount,
      status: response.rechargeStatus,
      paymentIntentId,
      at: nowIso(),
    };
    this.notifier.rechargeFailed(recharge, failure, deriveStatus(this.state));
    // The new card starts afresh and is charged at once, as after any other problem.
    if (oldCard) {
      this.dunning.reset();
      this.hooks.requestEvaluation();
    }
  }

  /**
   * A decline of a card the merchant replaced while the charge was on its way says nothing
   * about the new card: it sets no payment problem and starts no retry schedule.
   */
  private declinedCardReplaced(recharge: InFlightRecharge, type: ChargeFailure['type']): boolean {
    if (!CARD_DECLINES.has(type)) return false;
    const before = recharge.paymentMethodsSavedBefore;
    if (before === undefined || (this.state.paymentMethodsSaved ?? 0) <= before) return false;
    // Histories from before this rule keep the old card's problem when they replay.
    if (!patched(REPLACED_CARD_PATCH)) return false;
    log.info('Decline of a card replaced meanwhile; the new card is charged', {
      rechargeId: recharge.rechargeId,
      failureType: type,
    });
    return true;
  }
}
