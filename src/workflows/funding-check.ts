/**
 * The runaway guard's second limit (SPEC 3.6): before a charge, the money Auto Reload added
 * in the last 24 hours is weighed against what the ledger shows for it (domain/runaway.ts).
 * Far beyond it, charging pauses with a `runaway_paused` skip, an error log line for
 * operators and `auto_reload.paused` for the merchant, until the figures are within bounds
 * again: the day's first credit leaves the window, or money the ledger missed is credited.
 */
import { log, patched } from '@temporalio/workflow';
import type { BalanceAfter } from '../activities/contract';
import { type Micros, ZERO, addMicros } from '../domain/money';
import { RECHARGE_WINDOW_MS } from '../domain/recharge-rule';
import {
  type FundingVerdict,
  type LedgerFunding,
  RUNAWAY_FACTOR,
  judgeFunding,
  runawayHeadroom,
} from '../domain/runaway';
import { store } from './activities';
import { type CreditRecord, type MerchantState, activePause, nowIso } from './state';
import { WakeTimer } from './wake-timer';

/** Marks histories in which the guard weighs the money added against the ledger. */
const RUNAWAY_FUNDING_PATCH = 'runaway-funding';

/** While paused, the ledger is read again at most this often (a manual credit may lift it). */
const PAUSED_REREAD_MS = 60_000;

function sum(credits: readonly CreditRecord[]): Micros {
  return credits.reduce<Micros>((total, credit) => addMicros(total, credit.amount), ZERO);
}

export class FundingCheck {
  private readonly timer: WakeTimer;

  constructor(
    private readonly state: MerchantState,
    wake: () => void,
  ) {
    this.timer = new WakeTimer(wake);
  }

  /** Counts a recharge credit; `ledgerSeq` is the credit entry's own sequence number. */
  recordCredit(amount: Micros, ledgerSeq: number): void {
    const credits = this.creditsInWindow();
    credits.push({ at: nowIso(), amount, ledgerSeq });
    this.state.recentCredits = credits;
  }

  /**
   * Whether a charge due now may go ahead. `measure`: call measure(), then evaluate again.
   * `runaway`: the pause is set and its timer armed; the caller records the skip. Always
   * `within` in histories recorded before this check.
   */
  check(): FundingVerdict {
    if (!patched(RUNAWAY_FUNDING_PATCH)) return 'within';
    const [first, ...later] = this.creditsInWindow();
    if (first === undefined) return this.lift();
    const added = sum(later);
    const verdict = judgeFunding(
      added,
      runawayHeadroom(this.state.settings),
      this.usableSnapshot(first, later),
    );
    if (verdict === 'within') return this.lift();
    if (verdict === 'runaway') this.pause(first, added);
    return verdict;
  }

  /**
   * Reads the ledger since the window's first credit, and applies the balance it read. The
   * loop then evaluates again on figures from one snapshot.
   */
  async measure(applyBalance: (after: BalanceAfter) => void): Promise<void> {
    const [first] = this.creditsInWindow();
    if (first === undefined) return;
    const merchantId = this.state.merchantId;
    const read = await store.measureFunding({ merchantId, afterSeq: first.ledgerSeq });
    const { balance, ledgerSeq, usedAfterSeq: used } = read;
    this.state.fundingSnapshot = {
      afterSeq: first.ledgerSeq,
      ledgerSeq,
      balance,
      used,
      at: nowIso(),
    };
    applyBalance({ balance, ledgerSeq });
  }

  /** The operators' alert, once per recorded pause: an error line with the figures. */
  alert(): void {
    const pause = this.state.runawayPause;
    if (!pause) return;
    log.error('Runaway guard paused recharges: money added far exceeds what the ledger shows', {
      ...pause,
      factor: RUNAWAY_FACTOR,
    });
  }

  private creditsInWindow(): CreditRecord[] {
    const since = Date.now() - RECHARGE_WINDOW_MS;
    return (this.state.recentCredits ?? []).filter((credit) => Date.parse(credit.at) > since);
  }

  /**
   * The last snapshot, if it still speaks for this window: counted from its first credit,
   * and taken after its newest one. While paused it is read again after a minute, when the
   * ledger has moved on, so that a credit of the missing money lifts the pause.
   */
  private usableSnapshot(
    first: CreditRecord,
    later: readonly CreditRecord[],
  ): LedgerFunding | null {
    const snapshot = this.state.fundingSnapshot;
    if (!snapshot || snapshot.afterSeq !== first.ledgerSeq) return null;
    const newest = later.at(-1) ?? first;
    if (snapshot.ledgerSeq < newest.ledgerSeq) return null;
    const moved = snapshot.ledgerSeq < this.state.ledgerSeq;
    const aged = Date.now() - Date.parse(snapshot.at) >= PAUSED_REREAD_MS;
    if (activePause(this.state, Date.now()) && moved && aged) return null;
    return { balance: snapshot.balance, usedSinceFirstCredit: snapshot.used };
  }

  private pause(first: CreditRecord, added: Micros): void {
    const snapshot = this.state.fundingSnapshot;
    const recheckAt = new Date(Date.parse(first.at) + RECHARGE_WINDOW_MS).toISOString();
    const since = activePause(this.state, Date.now())?.since ?? nowIso();
    this.state.runawayPause = {
      since,
      added,
      balance: snapshot?.balance ?? ZERO,
      used: snapshot?.used ?? ZERO,
      recheckAt,
    };
    this.timer.at(recheckAt);
  }

  private lift(): 'within' {
    if (this.state.runawayPause) {
      log.info('Runaway pause lifted', { since: this.state.runawayPause.since });
      this.state.runawayPause = null;
    }
    return 'within';
  }
}
