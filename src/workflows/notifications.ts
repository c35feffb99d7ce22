/**
 * Sends the merchant's notifications (SPEC 3.8) from the workflow without waiting for
 * them: a merchant's slow or broken webhook server must never hold up a decision or a
 * charge. Each send starts a `deliverNotification` child workflow, abandoned to run on its
 * own; the merchant workflow only waits for the child to have started, so continue-as-new
 * is held up for a moment at most, never by a merchant's server being down.
 */
import {
  ParentClosePolicy,
  isCancellation,
  log,
  patched,
  startChild,
  uuid4,
} from '@temporalio/workflow';
import {
  CHARGE_FAILURE_TYPES,
  type NotificationRequest,
  type NotificationType,
} from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus } from '../domain/auto-reload';
import type { Micros } from '../domain/money';
import { MERCHANT_ID_KEY } from '../temporal/search-attributes';
import { deliverNotification } from './notification-delivery';
import type { ChargeFailure } from './charge-failure';
import {
  type NotificationDataByType,
  type RechargeFacts,
  actionRequiredData,
  balanceLowData,
  capReachedData,
  capWarningData,
  rechargeFailedData,
  runawayPausedData,
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

  /** Every notification's delivery has started; continue-as-new waits for this. */
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

  /** After a `runaway_paused` skip was recorded (recordSkip already drops repeats). */
  runawayPaused(): void {
    const data = runawayPausedData(this.state);
    if (data) this.send('auto_reload.paused', data);
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

  /** Starts the delivery and returns at once. */
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
    startChild(deliverNotification, {
      workflowId: `notification-${request.notificationId}`,
      args: [request],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // Operators find a merchant's deliveries beside its workflow: MerchantId = "mer_...".
      typedSearchAttributes: [{ key: MERCHANT_ID_KEY, value: this.state.merchantId }],
    }).then(
      () => this.started(request),
      (error: unknown) => this.notStarted(request, error),
    );
  }

  private started(request: NotificationRequest): void {
    this.pendingCount -= 1;
    const { notificationId, type } = request;
    log.info('Notification sent for delivery', { notificationId, type });
  }

  /**
   * The server refused to start the delivery (or the workflow is being cancelled). The
   * event is lost to the merchant; the log line is what an operator has to go on.
   */
  private notStarted(request: NotificationRequest, error: unknown): void {
    this.pendingCount -= 1;
    if (isCancellation(error)) return;
    const { notificationId, type } = request;
    log.error('Notification delivery not started', { notificationId, type, error });
  }
}
