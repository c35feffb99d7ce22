/**
 * Sends the merchant's notifications (SPEC 3.8) from the workflow without waiting for
 * them: a merchant's slow or broken webhook server must never hold up a decision or a
 * charge. Each send starts an activity that Temporal retries for days; the workflow only
 * counts them, so that continue-as-new (which would abandon them) waits until none is left.
 */
import { isCancellation, log, patched, uuid4 } from '@temporalio/workflow';
import {
  CHARGE_FAILURE_TYPES,
  type NotificationOutcome,
  type NotificationRequest,
  type NotificationType,
} from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus } from '../domain/auto-reload';
import type { Micros } from '../domain/money';
import { notifications } from './activities';
import type { ChargeFailure } from './charge-failure';
import {
  type NotificationDataByType,
  type RechargeFacts,
  actionRequiredData,
  balanceLowData,
  capReachedData,
  capWarningData,
  rechargeFailedData,
  rechargeSucceededData,
  settingsChangedData,
} from './notification-payloads';
import { type MerchantState, nowIso } from './state';

/**
 * Marks histories in which the workflow notifies merchants and settles late PaymentIntent
 * successes. Histories recorded before have none of these activities and must replay.
 */
export const NOTIFY_MERCHANT_PATCH = 'notify-merchant';

/** Percent of maxPerCycle at which `auto_reload.cap_warning` is sent, once each per cycle. */
export const CAP_WARNING_LEVELS = [80, 90, 100] as const;

/** True when `total` is at least `level` percent of `max`; exact, even for huge amounts. */
function reachesLevel(total: Micros, max: Micros, level: number): boolean {
  return BigInt(total) * 100n >= BigInt(max) * BigInt(level);
}

/** The merchant's notifications: what to send, when, and how many are still on their way. */
export class MerchantNotifier {
  private pendingCount = 0;

  constructor(private readonly state: MerchantState) {}

  /**
   * False only while replaying a history recorded before notifications: such a run sends
   * none (and settles no late payments), exactly as it did when it was recorded.
   */
  get enabled(): boolean {
    return patched(NOTIFY_MERCHANT_PATCH);
  }

  /**
   * No notification is waiting for delivery; continue-as-new waits for this. Known
   * shortcoming: a merchant's server down for days holds the run open that long (history
   * grows meanwhile); carrying the pending requests into the new run and sending them again
   * there (their ids make a re-send safe) would fix it.
   */
  get idle(): boolean {
    return this.pendingCount === 0;
  }

  /** After a recharge was credited; `balance` is the balance right after the credit. */
  rechargeSucceeded(recharge: RechargeFacts, paymentIntentId: string, balance: Micros): void {
    const data = rechargeSucceededData(this.state, recharge, paymentIntentId, balance);
    this.send('auto_reload.succeeded', data);
  }

  /** After a charge failed; authentication required has an event of its own. */
  rechargeFailed(recharge: RechargeFacts, failure: ChargeFailure, status: AutoReloadStatus): void {
    if (failure.type === CHARGE_FAILURE_TYPES.authenticationRequired) {
      const data = actionRequiredData(this.state, recharge, failure.paymentIntentId);
      this.send('auto_reload.action_required', data);
      return;
    }
    this.send('auto_reload.failed', rechargeFailedData(this.state, recharge, failure, status));
  }

  /** After a `cap_reached` skip was recorded (recordSkip already drops repeats). */
  capReached(): void {
    this.send('auto_reload.cap_reached', capReachedData(this.state));
  }

  /** After an Update applied new settings (whether or not they differ from the old). */
  settingsChanged(settings: AutoReloadSettings): void {
    this.send('auto_reload.settings_changed', settingsChangedData(this.state, settings));
  }

  /**
   * Sends `balance.low` when the balance has gone below the threshold since it was last
   * seen at or above it, whatever Auto Reload then does. Call it whenever the balance or the
   * threshold may have changed; it sends once per stay below the threshold.
   */
  checkBalanceLow(): void {
    if (!this.enabled) return;
    const s = this.state;
    if (s.balance >= s.settings.threshold) {
      s.balanceLow = false;
      return;
    }
    if (s.balanceLow === true) return;
    s.balanceLow = true;
    this.send('balance.low', balanceLowData(s));
  }

  /**
   * Sends one `auto_reload.cap_warning` for each level the cycle total (succeeded plus in
   * flight) has reached and that was not sent in this cycle yet: a charge that jumps from
   * 50 to 100 percent sends 80, 90 and 100. Call it after anything that raises the total
   * or lowers maxPerCycle.
   */
  checkCapWarnings(): void {
    if (!this.enabled) return;
    const s = this.state;
    const { key, total } = s.cycle;
    const max = s.settings.maxPerCycle;
    if (max <= 0 || total <= 0) return;

    const sent = s.capWarnings?.cycleKey === key ? s.capWarnings.levels : [];
    const reached = CAP_WARNING_LEVELS.filter(
      (level) => !sent.includes(level) && reachesLevel(total, max, level),
    );
    if (reached.length === 0) return;
    s.capWarnings = { cycleKey: key, levels: [...sent, ...reached] };
    for (const level of reached) this.send('auto_reload.cap_warning', capWarningData(s, level));
  }

  /** Starts the delivery and returns at once; the outcome is only logged. */
  private send<T extends NotificationType>(type: T, data: NotificationDataByType[T]): void {
    if (!this.enabled) return;
    const request: NotificationRequest = {
      notificationId: `ntf_${uuid4()}`,
      merchantId: this.state.merchantId,
      type,
      data,
      createdAt: nowIso(),
    };
    this.pendingCount += 1;
    notifications.notifyMerchant(request).then(
      (outcome) => this.settled(request, outcome),
      (error: unknown) => this.abandoned(request, error),
    );
  }

  private settled(request: NotificationRequest, outcome: NotificationOutcome): void {
    this.pendingCount -= 1;
    const { notificationId, type } = request;
    log.info('Notification settled', { notificationId, type, ...outcome });
  }

  /**
   * Three days of retries ran out (or the workflow is being cancelled). The event is lost
   * to the merchant but kept in Postgres with every attempt, for operators to look at.
   */
  private abandoned(request: NotificationRequest, error: unknown): void {
    this.pendingCount -= 1;
    if (isCancellation(error)) return;
    const { notificationId, type } = request;
    log.error('Notification abandoned', { notificationId, type, error });
  }
}
