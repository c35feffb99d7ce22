/**
 * The merchant workflow's state and behaviour. Two coroutines share the state: the main
 * loop, the only place that decides and starts charges, and at most one running charge.
 * Handlers only record what changed and ask the loop to evaluate, so that two charges can
 * never be in flight at once however signals and Updates interleave.
 */
import {
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { BalanceAfter, DecisionRecord } from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus, SkipReason } from '../domain/auto-reload';
import { type RechargeVerdict, decideRecharge } from '../domain/recharge-rule';
import { store, settingsStore } from './activities';
import {
  type PaymentMethodChange,
  balanceChangedSignal,
  getStateQuery,
  paymentIntentEventSignal,
  paymentMethodChangedSignal,
  updateSettingsUpdate,
} from './definitions';
import { LatePayments } from './late-payment';
import { MerchantNotifier } from './notifications';
import { publishStatus } from './publish';
import { type RechargeHooks, RechargeRunner } from './recharge';
import { FundingCheck } from './funding-check';
import { RunawayGuard } from './runaway-guard';
import { Dunning } from './dunning';
import { assertValidSettings, pickSettings } from './settings-update';
import {
  type AutoReloadStateView,
  type MerchantState,
  deriveStatus,
  emptyCycle,
  nowIso,
  stateView,
} from './state';

/** Marks histories in which the end of a payment problem is written to the decision log. */
const LOG_RESUMPTIONS_PATCH = 'log-resumptions';

function isSafeCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** One merchant's Auto Reload: its handlers and the main loop that decides and charges. */
export class MerchantAutoReload {
  /** Evaluate once on (re)start: the balance may already be below the threshold. */
  private needsEvaluation = true;
  /** Counts evaluations so an Update can wait for the one that follows its change. */
  private evaluations = 0;
  private cycleEnded = false;
  private timerCycleKey: string | null = null;
  private settingsBusy = false;
  /** New settings: the cap is decided afresh (a raised maxPerCycle resumes charging). */
  private settingsChanged = false;
  private readonly recharges: RechargeRunner;
  private readonly notifier: MerchantNotifier;
  private readonly latePayments: LatePayments;
  private readonly guard: RunawayGuard;
  private readonly funding: FundingCheck;
  private readonly dunning: Dunning;

  constructor(private readonly state: MerchantState) {
    this.notifier = new MerchantNotifier(state);
    const evaluateAgain = () => {
      this.needsEvaluation = true;
    };
    this.guard = new RunawayGuard(state, evaluateAgain);
    this.funding = new FundingCheck(state, evaluateAgain);
    this.dunning = new Dunning(state, evaluateAgain);
    this.recharges = new RechargeRunner(state, this.hooks(), this.notifier, this.dunning);
    const chargeRunning = () => this.recharges.running;
    this.latePayments = new LatePayments(state, this.notifier, { ...this.hooks(), chargeRunning });
  }

  /** What the charge coroutine and late payments may ask of the workflow. */
  private hooks(): RechargeHooks {
    return {
      recordDecision: (decision, statusAfter) => this.recordDecision(decision, statusAfter),
      applyBalance: (after) => this.applyBalance(after),
      recordCredit: (amount, ledgerSeq) => this.funding.recordCredit(amount, ledgerSeq),
      requestEvaluation: () => {
        this.needsEvaluation = true;
      },
    };
  }

  registerHandlers(): void {
    // Descriptions show in the Web UI next to each handler.
    setHandler(getStateQuery, () => stateView(this.state), {
      description: 'Auto Reload state: settings, status, balance, cycle, last decision',
    });
    setHandler(balanceChangedSignal, (change) => this.onBalanceChanged(change), {
      description: 'The ledger changed: {balance, ledgerSeq}; stale sequences are ignored',
    });
    setHandler(paymentMethodChangedSignal, (change) => this.onPaymentMethodChanged(change), {
      description: 'A card was saved or removed: {hasPaymentMethod}',
    });
    setHandler(paymentIntentEventSignal, (event) => this.latePayments.onEvent(event), {
      description: 'Stripe said how a PaymentIntent ended; a late success is credited once',
    });
    setHandler(updateSettingsUpdate, (settings) => this.onUpdateSettings(settings), {
      description: 'Replace the settings; answers the state after the decision they cause',
      // Runs before the Update is written to history: a refusal leaves no trace.
      validator: (settings: AutoReloadSettings) =>
        assertValidSettings(settings, this.state.currency),
    });
  }

  /** Runs the main loop; returns the state to carry over once continue-as-new is due. */
  async runUntilContinueAsNew(): Promise<MerchantState> {
    // A retry scheduled in an earlier run still needs its timer in this one.
    this.dunning.arm();
    for (;;) {
      this.armCycleTimer();
      // Waking when continue-as-new is due matters even without work: ignored (stale)
      // signals still grow history, and only a new run resets it.
      await condition(() => this.hasWork() || this.continueAsNewDue());
      this.recharges.throwIfCrashed();

      this.rollCycleIfEnded();
      // Before deciding, so that the decision sees the money a late payment added.
      if (this.latePayments.hasWork) await this.latePayments.settleQueued();
      if (this.needsEvaluation) await this.evaluate();
      await publishStatus(this.state);

      if (await this.readyToContinueAsNew()) return this.state;
    }
  }

  private hasWork(): boolean {
    return (
      this.needsEvaluation ||
      this.cycleEnded ||
      this.recharges.crashed ||
      this.latePayments.hasWork ||
      deriveStatus(this.state) !== this.state.publishedStatus
    );
  }

  /**
   * One durable timer per cycle, rather than a timeout on every wait, so that a stream
   * of signals does not add a timer started/cancelled pair to history each time.
   */
  private armCycleTimer(): void {
    const { key, end } = this.state.cycle;
    if (this.timerCycleKey === key) return;
    this.timerCycleKey = key;
    const delayMs = Math.max(Date.parse(end) - Date.now(), 1);
    sleep(delayMs).then(
      () => {
        if (this.state.cycle.key === key) this.cycleEnded = true;
      },
      (error: unknown) => {
        // Cancelling the workflow cancels the timer too; the loop reports that itself.
        if (!isCancellation(error)) throw error;
      },
    );
  }

  /**
   * Starts a new cycle once the current one has ended. A charge still in flight keeps
   * counting in the cycle it was decided in (see RechargeRunner), not in the new one.
   */
  private rollCycleIfEnded(): void {
    this.cycleEnded = false;
    if (Date.now() < Date.parse(this.state.cycle.end)) return;
    const previousKey = this.state.cycle.key;
    this.state.cycle = emptyCycle(this.state.billingCycleAnchor, Date.now());
    this.needsEvaluation = true;
    log.info('Billing cycle started', { previousKey, cycleKey: this.state.cycle.key });
  }

  /**
   * Decides synchronously, so state reflects the decision before anything is awaited. The
   * one exception reads the ledger for the runaway guard first, then decides again.
   */
  private async evaluate(): Promise<void> {
    this.needsEvaluation = false;
    const s = this.state;
    await this.recordResumption();
    if (this.settingsChanged) s.capReachedCycleKey = null;
    this.settingsChanged = false;
    this.notifier.checkBalanceLow();
    const verdict = this.decide();
    const funding = verdict.kind === 'charge' ? this.funding.check() : 'within';
    if (funding === 'measure') {
      // Not counted as an evaluation: an Update waits for the decision that follows.
      await this.funding.measure((after) => this.applyBalance(after));
      this.needsEvaluation = true;
      return;
    }
    this.evaluations += 1;
    if (verdict.kind === 'charge' && funding === 'within') {
      this.guard.recordStart();
      this.recharges.start(verdict.amount);
    }
    // A charge raises the total, new settings may lower the cap: both can cross a level.
    this.notifier.checkCapWarnings();
    if (funding === 'runaway') return this.recordSkip('runaway_paused');
    if (verdict.kind !== 'skip') return;
    if (verdict.reason === 'rate_limited') this.guard.holdUntilWindowFrees();
    await this.recordSkip(verdict.reason);
  }

  private decide(): RechargeVerdict {
    const s = this.state;
    const rechargesInLastDay = this.guard.rechargesInLastDay();
    return decideRecharge({
      settings: s.settings,
      currency: s.currency,
      balance: s.balance,
      cycleTotal: s.cycle.total,
      rechargeInFlight: s.inFlight !== null,
      hasPaymentMethod: s.hasPaymentMethod,
      paymentProblem: s.paymentProblem,
      ...(rechargesInLastDay !== undefined && { rechargesInLastDay }),
    });
  }

  /**
   * Records a skip only when it differs from the last recorded decision (reason and cycle):
   * a stream of debits while capped or disabled then writes one row, not one per debit.
   */
  private async recordSkip(reason: SkipReason): Promise<void> {
    const s = this.state;
    const capped = reason === 'cap_reached';
    const last = s.lastDecision;
    const repeated =
      last?.outcome === 'skipped' && last.reason === reason && last.cycleKey === s.cycle.key;
    if (repeated) {
      if (capped) s.capReachedCycleKey = s.cycle.key;
      return;
    }
    log.info('Recharge skipped', { reason, balance: s.balance, cycleTotal: s.cycle.total });
    // The state shows cap_reached only once its row is written, so whoever reads the new
    // status (a query, the API, the merchant notified) already finds the reason in the log.
    const statusAfter = capped
      ? deriveStatus({ ...s, capReachedCycleKey: s.cycle.key })
      : undefined;
    await this.recordDecision({ outcome: 'skipped', reason }, statusAfter);
    if (reason === 'runaway_paused') {
      this.funding.alert();
      this.notifier.runawayPaused();
    }
    if (!capped) return;
    s.capReachedCycleKey = s.cycle.key;
    this.notifier.capReached();
  }

  /** Logs the end of a payment problem, before the decision it makes possible. */
  private async recordResumption(): Promise<void> {
    const resumed = this.state.resumed;
    if (resumed === undefined) return;
    delete this.state.resumed;
    // Histories from before the row existed replay without it.
    if (!patched(LOG_RESUMPTIONS_PATCH)) return;
    await this.recordDecision({ outcome: 'resumed', ...resumed });
  }

  /** Sets lastDecision at once, then writes the decision log row. */
  private async recordDecision(
    decision: DecisionRecord,
    statusAfter: AutoReloadStatus = deriveStatus(this.state),
  ): Promise<void> {
    const s = this.state;
    const decisionId = `dec_${uuid4()}`;
    s.lastDecision = { ...decision, decisionId, cycleKey: s.cycle.key, at: nowIso() };
    await store.recordDecision({
      merchantId: s.merchantId,
      decision,
      balance: s.balance,
      threshold: s.settings.threshold,
      cycleKey: s.cycle.key,
      cycleTotal: s.cycle.total,
      maxPerCycle: s.settings.maxPerCycle,
      statusAfter,
      decisionId,
    });
  }

  /**
   * The server suggests a new run, no charge is between decision and settlement, and no
   * notification is still being delivered (a new run would abandon its activity).
   */
  private continueAsNewDue(): boolean {
    return workflowInfo().continueAsNewSuggested && !this.recharges.running && this.notifier.idle;
  }

  /**
   * Continue-as-new only between charges and once every handler has finished; work that
   * arrives while waiting (a signal, an Update's change) is done first, in this run.
   */
  private async readyToContinueAsNew(): Promise<boolean> {
    if (!this.continueAsNewDue()) return false;
    await condition(() => allHandlersFinished() || this.hasWork());
    return allHandlersFinished() && !this.hasWork() && this.continueAsNewDue();
  }

  /** Applies a balance read if it is newer than what we hold; ledgerSeq orders them. */
  private applyBalance(after: BalanceAfter): boolean {
    if (after.ledgerSeq <= this.state.ledgerSeq) return false;
    this.state.balance = after.balance;
    this.state.ledgerSeq = after.ledgerSeq;
    return true;
  }

  private onBalanceChanged(change: BalanceAfter): void {
    if (!isSafeCount(change?.balance) || !isSafeCount(change?.ledgerSeq)) {
      log.warn('Malformed balance signal ignored', { change });
      return;
    }
    // Stale or repeated signals (sequence not newer) change nothing and decide nothing.
    if (this.applyBalance(change)) this.needsEvaluation = true;
  }

  private onPaymentMethodChanged(change: PaymentMethodChange): void {
    if (typeof change?.hasPaymentMethod !== 'boolean') {
      log.warn('Malformed payment method signal ignored', { change });
      return;
    }
    const s = this.state;
    s.hasPaymentMethod = change.hasPaymentMethod;
    if (change.hasPaymentMethod) s.paymentMethodsSaved = (s.paymentMethodsSaved ?? 0) + 1;
    if (change.hasPaymentMethod && s.paymentProblem !== null) {
      log.info('Payment problem cleared by a saved card', { problem: s.paymentProblem });
      s.paymentProblem = null;
      s.resumed = { reason: 'payment_method_saved', rechargeId: s.lastRecharge?.id ?? null };
      this.dunning.reset();
    }
    this.needsEvaluation = true;
  }

  /** For an Update accepted while loading, whose validator could not know the currency. */
  async updateSettingsAfterLoading(input: AutoReloadSettings): Promise<AutoReloadStateView> {
    assertValidSettings(input, this.state.currency);
    return this.onUpdateSettings(input);
  }

  /**
   * Saves, applies, then waits for the main loop's next decision so the answer shows its
   * outcome (`recharging`, `cap_reached`...). Updates run one at a time so that Postgres
   * and the workflow end with the same last write.
   */
  private async onUpdateSettings(input: AutoReloadSettings): Promise<AutoReloadStateView> {
    await condition(() => !this.settingsBusy);
    this.settingsBusy = true;
    try {
      const s = this.state;
      const settings = pickSettings(input);
      this.applyBalance(await settingsStore.saveSettings({ merchantId: s.merchantId, settings }));
      s.settings = settings;
      this.settingsChanged = true;
      log.info('Settings updated', { enabled: settings.enabled, mode: settings.mode });
      this.notifier.settingsChanged(settings);

      const ticket = this.evaluations;
      this.needsEvaluation = true;
      await condition(() => this.evaluations > ticket);
      return stateView(s);
    } finally {
      this.settingsBusy = false;
    }
  }
}
