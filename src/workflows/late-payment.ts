/**
 * Stripe's word on a PaymentIntent, through the `paymentIntentEvent` signal (SPEC 3.6: "a
 * late success is credited once"). The handler only queues successes; the main loop
 * settles them between charges, so a late credit never races the charge coroutine's own
 * credit and continue-as-new never cuts one off.
 */
import { log } from '@temporalio/workflow';
import type { BalanceAfter, LateRechargeSettlement } from '../activities/contract';
import { type Micros, addMicros } from '../domain/money';
import { credits } from './activities';
import type { PaymentIntentEvent } from './definitions';
import type { MerchantNotifier } from './notifications';
import { type MerchantState, nowIso } from './state';

/** What settling needs from the workflow that owns the state. */
export interface LatePaymentHooks {
  applyBalance(after: BalanceAfter): boolean;
  recordCredit(amount: Micros, ledgerSeq: number): void;
  requestEvaluation(): void;
  /** True while a charge is between decision and settlement. */
  chargeRunning(): boolean;
}

const EVENT_TYPES: readonly string[] = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
];

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isStringOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

/** The signal arrived as JSON from another process: check every field before trusting it. */
export function isPaymentIntentEvent(value: unknown): value is PaymentIntentEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Partial<Record<keyof PaymentIntentEvent, unknown>>;
  return (
    isNonEmptyString(event.eventId) &&
    typeof event.type === 'string' &&
    EVENT_TYPES.includes(event.type) &&
    isNonEmptyString(event.paymentIntentId) &&
    isNonEmptyString(event.rechargeId) &&
    typeof event.amount === 'number' &&
    Number.isSafeInteger(event.amount) &&
    event.amount > 0 &&
    isStringOrNull(event.code) &&
    isStringOrNull(event.declineCode)
  );
}

/** Late PaymentIntent outcomes of one merchant: queued by the handler, settled by the loop. */
export class LatePayments {
  /** Successes waiting for the main loop, at most one per PaymentIntent. */
  private readonly queue: PaymentIntentEvent[] = [];

  constructor(
    private readonly state: MerchantState,
    private readonly notifier: MerchantNotifier,
    private readonly hooks: LatePaymentHooks,
  ) {}

  /** Something to settle, and no charge running that it could race. */
  get hasWork(): boolean {
    return this.queue.length > 0 && !this.hooks.chargeRunning();
  }

  /** The signal handler: validates, logs, and queues successes for the main loop. */
  onEvent(raw: unknown): void {
    if (!isPaymentIntentEvent(raw)) {
      log.warn('Malformed payment intent signal ignored', { event: raw });
      return;
    }
    const { eventId, type, paymentIntentId, rechargeId, code, declineCode } = raw;
    const attributes = { eventId, type, paymentIntentId, rechargeId, code, declineCode };
    const inFlight = this.state.inFlight?.rechargeId === rechargeId;
    log.info('Payment intent event received', { ...attributes, inFlight });
    // A failure changes nothing: the charge activity reports its own, and an older one was
    // already recorded when its charge ended.
    if (type !== 'payment_intent.succeeded') return;
    if (!this.notifier.enabled) {
      log.warn('Late payment left uncredited by a run older than its handling', attributes);
      return;
    }
    // Queued even for the charge in flight: settled after it, it costs nothing when the
    // charge credited it, and it credits the money if the charge ended without knowing.
    if (this.queue.some((queued) => queued.paymentIntentId === paymentIntentId)) return;
    this.queue.push(raw);
  }

  /** Main loop only, with no charge running: settles every queued success, in order. */
  async settleQueued(): Promise<void> {
    for (let event = this.queue.shift(); event; event = this.queue.shift()) {
      await this.settle(event);
    }
  }

  /** Its own charge credited it (the usual case for a success that arrived in flight). */
  private creditedByCharge(event: PaymentIntentEvent): boolean {
    const last = this.state.lastRecharge;
    return (
      last?.id === event.rechargeId &&
      last.status === 'succeeded' &&
      last.paymentIntentId === event.paymentIntentId
    );
  }

  private async settle(event: PaymentIntentEvent): Promise<void> {
    const { paymentIntentId, rechargeId, amount } = event;
    if (this.creditedByCharge(event)) return;

    const merchantId = this.state.merchantId;
    const request = { merchantId, rechargeId, paymentIntentId, amount };
    const settlement = await credits.settleLateRecharge(request);
    if (settlement.outcome === 'refused') {
      // Money may have been taken for a recharge we cannot match: an operator must look.
      log.error('Late payment refused', { paymentIntentId, rechargeId, reason: settlement.reason });
      return;
    }
    if (settlement.outcome === 'already_credited') {
      log.info('Late payment already credited', { paymentIntentId, rechargeId });
      return;
    }
    this.applyNewCredit(event, settlement);
  }

  /** Only a first credit changes the state: a repeat was counted when it was first. */
  private applyNewCredit(
    event: PaymentIntentEvent,
    settlement: Exclude<LateRechargeSettlement, { outcome: 'refused' }>,
  ): void {
    const s = this.state;
    const { paymentIntentId, rechargeId } = event;
    const { amount, cycleKey, balanceAfter } = settlement;
    this.hooks.applyBalance(balanceAfter);
    this.hooks.recordCredit(amount, balanceAfter.ledgerSeq);
    // A charge that failed was taken out of its cycle's total; it counts again now, if that
    // cycle is still the current one.
    if (cycleKey === s.cycle.key) s.cycle.total = addMicros(s.cycle.total, amount);
    this.resolveProblem(rechargeId, paymentIntentId, amount);
    log.info('Late payment credited', { paymentIntentId, rechargeId, amount, cycleKey });

    this.notifier.rechargeSucceeded({ rechargeId, amount }, paymentIntentId, balanceAfter.balance);
    this.notifier.checkCapWarnings();
    this.hooks.requestEvaluation();
  }

  /**
   * The last recharge is the one whose failure set the payment problem (nothing charges
   * while one is set). If it is this one, it has now succeeded: the problem is over, be it
   * an authentication the merchant completed or an unknown outcome that was a success.
   */
  private resolveProblem(rechargeId: string, paymentIntentId: string, amount: Micros): void {
    const s = this.state;
    if (s.lastRecharge?.id !== rechargeId) return;
    if (s.paymentProblem !== null) {
      log.info('Payment problem cleared by a late payment', { problem: s.paymentProblem });
      s.paymentProblem = null;
      s.resumed = { reason: 'late_payment_succeeded', rechargeId };
    }
    // A success starts the retry schedule over; a retry timer still set finds nothing to do.
    delete s.dunning;
    s.lastRecharge = { id: rechargeId, amount, status: 'succeeded', paymentIntentId, at: nowIso() };
  }
}
