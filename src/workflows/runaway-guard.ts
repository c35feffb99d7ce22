/**
 * The runaway guard of SPEC 3.6: at most MAX_RECHARGES_PER_DAY recharges in any 24 hours.
 * A merchant whose usage (or a bug) drains the balance again and again gets a `rate_limited`
 * skip instead of a card charged dozens of times, and charging resumes by itself when the
 * oldest recharge leaves the window.
 */
import { isCancellation, log, patched, sleep } from '@temporalio/workflow';
import { MAX_RECHARGES_PER_DAY } from '../domain/recharge-rule';
import { type MerchantState, nowIso, rateLimitedUntil, recentStarts } from './state';

/** Marks histories in which the guard counts recharges and may hold them back. */
const RUNAWAY_GUARD_PATCH = 'runaway-guard';

export class RunawayGuard {
  /** The instant the wake-up timer is set for, so one window arms one timer. */
  private timerUntil: string | null = null;

  constructor(
    private readonly state: MerchantState,
    private readonly wake: () => void,
  ) {}

  /**
   * Recharges started in the last 24 hours, pruning older ones; undefined when replaying a
   * history recorded before the guard, which decided without it.
   */
  rechargesInLastDay(): number | undefined {
    if (!patched(RUNAWAY_GUARD_PATCH)) return undefined;
    const starts = recentStarts(this.state, Date.now());
    this.state.recentRechargeStarts = starts;
    return starts.length;
  }

  /** Counts a recharge the rule just decided on (only where the guard is on). */
  recordStart(): void {
    this.state.recentRechargeStarts?.push(nowIso());
  }

  /** After a `rate_limited` skip: evaluate again once the window has room. */
  holdUntilWindowFrees(): void {
    const until = rateLimitedUntil(this.state, Date.now());
    if (until === null || until === this.timerUntil) return;
    this.timerUntil = until;
    log.warn('Runaway guard holds recharges back', { limit: MAX_RECHARGES_PER_DAY, until });
    sleep(Math.max(Date.parse(until) - Date.now(), 1)).then(
      () => {
        this.timerUntil = null;
        this.wake();
      },
      (error: unknown) => {
        // Cancelling the workflow cancels the timer too; the loop reports that itself.
        if (!isCancellation(error)) throw error;
      },
    );
  }
}
