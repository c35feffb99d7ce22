/**
 * The runaway guard's money check (SPEC 3.6) as a pure function, so that its argument can
 * be read and tested apart from the workflow.
 *
 * Every recharge credit lands in the ledger, and the ledger's money only leaves as usage.
 * So in health, the recharges credited after the first one of the last 24 hours (`added`)
 * are all still there, as balance, or were spent on usage debited since that first credit:
 * `added <= balance + used`, exactly, at any ledger snapshot. Money added beyond that paid
 * for nothing the ledger shows (a credit that never reached the balance, a drain that is not
 * usage, a loop of charges on a wrong balance). At RUNAWAY_FACTOR times the bound the guard
 * pauses charging: never in health, and well before the daily limit of charges in a loop.
 */
import type { AutoReloadSettings } from './auto-reload';
import { type Micros, addMicros } from './money';

export const RUNAWAY_FACTOR = 2;

/**
 * What one day of healthy recharges can add before any usage: a balance filled to just
 * under threshold plus amount (fixed mode) or to the target (target mode).
 */
export function runawayHeadroom(settings: AutoReloadSettings): Micros {
  return settings.mode === 'fixed'
    ? addMicros(settings.threshold, settings.amount)
    : settings.amount;
}

/** The ledger at one snapshot: the balance, and the usage since the day's first credit. */
export interface LedgerFunding {
  readonly balance: Micros;
  readonly usedSinceFirstCredit: Micros;
}

/**
 * `within`: charge. `measure`: read the ledger (LedgerFunding) and ask again. `runaway`:
 * pause. Below RUNAWAY_FACTOR times the headroom nothing is read: a handful of charges a
 * day is the common case, and the bound is cheap to reach only for a runaway.
 */
export type FundingVerdict = 'within' | 'measure' | 'runaway';

export function judgeFunding(
  addedAfterFirstCredit: Micros,
  headroom: Micros,
  ledger: LedgerFunding | null,
): FundingVerdict {
  if (addedAfterFirstCredit <= RUNAWAY_FACTOR * headroom) return 'within';
  if (ledger === null) return 'measure';
  const accounted = addMicros(ledger.balance, ledger.usedSinceFirstCredit);
  return addedAfterFirstCredit > RUNAWAY_FACTOR * accounted ? 'runaway' : 'within';
}
