/**
 * Dunning for soft declines (SPEC 3.6): a decline that may pass later (insufficient funds,
 * try again later) schedules a new attempt, with a new idempotency key, after 1 h, then
 * 6 h, then 24 h; the status meanwhile is `retry_scheduled`. When the schedule is spent,
 * the status becomes `payment_failed` until the merchant saves another card.
 */
import { isCancellation, log, patched, sleep } from '@temporalio/workflow';
import { DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS } from '../domain/dunning';
import type { MerchantState } from './state';

/** Marks histories in which soft declines are retried on the schedule. */
const DUNNING_PATCH = 'dunning';

/** What a soft decline leads to: a retry at `retryAt`, or payment_failed (retryAt null). */
export interface DunningPlan {
  readonly problem: 'retry_scheduled' | 'payment_failed';
  readonly retryAt: string | null;
  readonly softDeclines: number;
}

export class Dunning {
  /** The retry the timer is set for, so one retry arms one timer. */
  private timerFor: string | null = null;

  constructor(
    private readonly state: MerchantState,
    private readonly wake: () => void,
  ) {}

  /**
   * The plan after one more soft decline; undefined in histories recorded without dunning.
   * `retryInMs` is the wait the worker's schedule chose (null: none left); failures
   * recorded before the schedule was configurable lack it and follow the default.
   */
  planAfterSoftDecline(retryInMs?: number | null): DunningPlan | undefined {
    if (!patched(DUNNING_PATCH)) return undefined;
    const done = this.state.dunning?.softDeclines ?? 0;
    const delayMs =
      retryInMs !== undefined ? retryInMs : (DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS[done] ?? null);
    const softDeclines = done + 1;
    if (delayMs === null) return { problem: 'payment_failed', retryAt: null, softDeclines };
    const retryAt = new Date(Date.now() + delayMs).toISOString();
    return { problem: 'retry_scheduled', retryAt, softDeclines };
  }

  /** Adopts the plan once the failure is recorded; a retry gets its timer. */
  apply(plan: DunningPlan): void {
    this.state.dunning = { softDeclines: plan.softDeclines, retryAt: plan.retryAt };
    if (plan.retryAt !== null) log.info('Recharge retry scheduled', { retryAt: plan.retryAt });
    this.arm();
  }

  /** A success or a newly saved card starts the schedule over. */
  reset(): void {
    delete this.state.dunning;
  }

  /** Sets the timer of a scheduled retry (also for one carried over by continue-as-new). */
  arm(): void {
    const retryAt = this.state.dunning?.retryAt ?? null;
    if (retryAt === null || retryAt === this.timerFor) return;
    this.timerFor = retryAt;
    sleep(Math.max(Date.parse(retryAt) - Date.now(), 1)).then(
      () => this.retryNow(retryAt),
      (error: unknown) => {
        // Cancelling the workflow cancels the timer too; the loop reports that itself.
        if (!isCancellation(error)) throw error;
      },
    );
  }

  private retryNow(retryAt: string): void {
    this.timerFor = null;
    const s = this.state;
    // A card saved meanwhile, or a late success, has already moved on.
    if (s.dunning?.retryAt !== retryAt || s.paymentProblem !== 'retry_scheduled') return;
    s.dunning = { ...s.dunning, retryAt: null };
    s.paymentProblem = null;
    this.wake();
  }
}
