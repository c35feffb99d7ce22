/**
 * How the merchant workflow shows itself to operators: search attributes to find it and
 * a short Markdown summary that the Web UI displays as the workflow's current details.
 */
import { log, patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { AutoReloadStatus } from '../domain/auto-reload';
import { formatInCurrency } from '../domain/currency';
import type { Micros } from '../domain/money';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../temporal/search-attributes';
import { store } from './activities';
import { MAX_RECHARGES_PER_DAY } from '../domain/recharge-rule';
import { type MerchantState, activePause, deriveStatus, rateLimitedUntil } from './state';

/** Marks histories in which the transient `recharging` status is not written to Postgres. */
const PERSIST_SETTLED_STATUS_PATCH = 'persist-settled-status';

/** Publishes the status as a search attribute; the first time, the merchant id too. */
export function upsertStatusAttributes(state: MerchantState, status: AutoReloadStatus): void {
  if (state.publishedStatus === null) {
    upsertSearchAttributes([
      { key: MERCHANT_ID_KEY, value: state.merchantId },
      { key: AUTO_RELOAD_STATUS_KEY, value: status },
    ]);
  } else {
    upsertSearchAttributes([{ key: AUTO_RELOAD_STATUS_KEY, value: status }]);
  }
}

/** One sentence on why Auto Reload is not charging right now, or null when it is. */
function whyNotRecharging(state: MerchantState, status: AutoReloadStatus): string | null {
  switch (status) {
    case 'disabled':
      return 'Auto Reload is switched off.';
    case 'recharging':
      return null;
    case 'cap_reached':
      return `The next charge would pass maxPerCycle; resumes at ${state.cycle.end} or when raised.`;
    case 'payment_failed':
      return lastFailureType(state) === 'configuration'
        ? 'Stripe refused the last charge as misconfigured (see the last decision); an operator fixes it, then the card is saved again.'
        : 'The last charge failed; waiting for the merchant to save a new card.';
    case 'action_required':
      return 'The bank asks the merchant to authenticate the last charge.';
    case 'retry_scheduled': {
      const retryAt = state.dunning?.retryAt ?? 'soon';
      return lastFailureType(state) === 'unknown'
        ? `Stripe did not answer the last charge and no PaymentIntent was found; a new attempt at ${retryAt}.`
        : `The last charge was declined; a new attempt at ${retryAt}.`;
    }
    case 'active': {
      const until = rateLimitedUntil(state, Date.now());
      if (until !== null) {
        return `At most ${MAX_RECHARGES_PER_DAY} recharges in 24 hours; resumes at ${until}.`;
      }
      const pause = activePause(state, Date.now());
      if (pause !== null) {
        const { added, balance, used, recheckAt } = pause;
        return `Runaway guard: recharges added ${money(state, added)} while the ledger shows ${money(state, balance)} balance and ${money(state, used)} usage; paused until ${recheckAt} or until the missing money is credited.`;
      }
      if (!state.hasPaymentMethod) return 'No saved card.';
      return state.balance >= state.settings.threshold ? 'Balance is not below threshold.' : null;
    }
  }
}

function money(state: MerchantState, value: Micros): string {
  return `${formatInCurrency(value, state.currency)} ${state.currency.toUpperCase()}`;
}

/** Why the last charge failed, when the last decision is a failure. */
function lastFailureType(state: MerchantState): string | null {
  const decision = state.lastDecision;
  return decision?.outcome === 'failed' ? decision.failureType : null;
}

function describeLastDecision(state: MerchantState): string {
  const decision = state.lastDecision;
  if (decision === null) return 'none yet';
  switch (decision.outcome) {
    case 'skipped':
    case 'resumed':
      return `${decision.outcome} (${decision.reason}) at ${decision.at}`;
    case 'charged':
      return `charged (${decision.rechargeId}) at ${decision.at}`;
  }
  // The codes are what an operator looks up first: Stripe's code and the bank's reason.
  const codes = [decision.failureType, decision.code, decision.declineCode].filter(Boolean);
  return `failed (${decision.rechargeId}: ${codes.join(', ')}) at ${decision.at}`;
}

/** Refreshes the Web UI summary; cheap (no history event), so call it after any change. */
export function refreshCurrentDetails(state: MerchantState): void {
  const status = deriveStatus(state);
  const why = whyNotRecharging(state, status);
  const lines = [
    `**Auto Reload: ${status}**`,
    '',
    `- Balance: ${money(state, state.balance)} (threshold ${money(state, state.settings.threshold)})`,
    `- Cycle ${state.cycle.key}: ${money(state, state.cycle.total)} of ${money(
      state,
      state.settings.maxPerCycle,
    )} (in flight ${money(state, state.cycle.inFlight)})`,
    `- Last decision: ${describeLastDecision(state)}`,
  ];
  if (why !== null) lines.push(`- Not recharging: ${why}`);
  setCurrentDetails(lines.join('\n'));
}

/**
 * Publishes the status everywhere it is read: the Web UI summary, search attributes and
 * Postgres. The main loop is its only caller, so that writes stay ordered.
 */
export async function publishStatus(s: MerchantState): Promise<void> {
  refreshCurrentDetails(s);
  const status = deriveStatus(s);
  if (status === s.publishedStatus) return;
  upsertStatusAttributes(s, status);
  log.info('Auto reload status changed', { from: s.publishedStatus, to: status });
  const persisted = s.persistedStatus === undefined ? s.publishedStatus : s.persistedStatus;
  s.publishedStatus = status;
  if (patched(PERSIST_SETTLED_STATUS_PATCH)) {
    if (status === 'recharging' || status === persisted) return;
  }
  s.persistedStatus = status;
  await store.saveStatus({ merchantId: s.merchantId, status });
}
