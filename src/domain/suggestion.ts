/**
 * The suggested maximum per cycle of SPEC 3.7, as a pure function over the recharge
 * history so that it can be tested on its own.
 */
import { type Micros, micros } from './money';

/** With no history, room for this many recharges a cycle. */
export const SUGGESTION_MULTIPLE_WITHOUT_HISTORY = 5;
/** Never suggest room for fewer recharges than this. */
export const SUGGESTION_MIN_MULTIPLE = 2;
/** Headroom above the busiest recent cycle, in percent. */
export const SUGGESTION_HEADROOM_PERCENT = 20;

/**
 * `recentCycleTotals`: what Auto Reload added in each of the last three cycles, or null
 * when the merchant has never been recharged. The answer is the smallest multiple of
 * `amount` covering the busiest of them plus 20 percent, and at least 2 x `amount`.
 */
export function suggestMaxPerCycle(
  amount: Micros,
  recentCycleTotals: readonly Micros[] | null,
): Micros {
  if (recentCycleTotals === null) return micros(amount * SUGGESTION_MULTIPLE_WITHOUT_HISTORY);
  const busiest = Math.max(0, ...recentCycleTotals);
  // Integer arithmetic: 20 percent more, rounded up to a whole micro.
  const needed = Math.ceil((busiest * (100 + SUGGESTION_HEADROOM_PERCENT)) / 100);
  const multiple = Math.max(Math.ceil(needed / amount), SUGGESTION_MIN_MULTIPLE);
  return micros(multiple * amount);
}
