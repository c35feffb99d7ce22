/**
 * The runaway guard's first limit (SPEC 3.6): at most MAX_RECHARGES_PER_DAY recharges in
 * any 24 hours. A merchant whose usage (or a bug) drains the balance again and again gets a
 * `rate_limited` skip instead of a card charged dozens of times, and charging resumes by
 * itself when the oldest recharge leaves the window. The second limit, on money added
 * against usage, is in funding-check.ts.
 */
import { log, patched } from '@temporalio/workflow';
import { MAX_RECHARGES_PER_DAY } from '../domain/recharge-rule';
import { type MerchantState, nowIso, rateLimitedUntil, recentStarts } from './state';
import { WakeTimer } from './wake-timer';

/** Marks histories in which the guard counts recharges and may hold them back. */
const RUNAWAY_GUARD_PATCH = 'runaway-guard';

export class RunawayGuard {
  private readonly timer: WakeTimer;

  constructor(
    private readonly state: MerchantState,
    wake: () => void,
  ) {
    this.timer = new WakeTimer(wake);
  }

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
    if (until === null || this.timer.isArmedFor(until)) return;
    log.warn('Runaway guard holds recharges back', { limit: MAX_RECHARGES_PER_DAY, until });
    this.timer.at(until);
  }
}
