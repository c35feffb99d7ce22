/**
 * Auto Reload settings and what they led to: the state (settings, cycle figures, last
 * recharge, next charge), the suggested maximum, the recharges and the decision log.
 * Settings change only through the workflow's validated Update; reads come from Postgres.
 */
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import {
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  type AutoReloadSettings,
  type SettingsViolation,
  validateSettings,
} from '../../domain/auto-reload';
import type { Currency } from '../../domain/currency';
import { isWholeMinorUnits, CURRENCIES, formatInCurrency } from '../../domain/currency';
import { type Micros, parseMoney } from '../../domain/money';
import { type AutoReloadRecord, readAutoReload, readMerchant } from '../../merchants/reads';
import { suggestionFor } from '../../merchants/suggestion';
import { INVALID_SETTINGS_FAILURE_TYPE } from '../../workflows/definitions';
import type { AutoReloadStateView } from '../../workflows/state';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { type AutoReloadFacts, money, presentAutoReload } from '../presenters';
import { GetSuggestion, PutAutoReload } from '../schemas/auto-reload';

/** How long a read waits for the workflow before answering from Postgres alone. */
const STATE_QUERY_TIMEOUT_MS = 2_000;

/** Raised when the workflow did not answer an Update in time; the change may still apply. */
function settingsNotAnswered(error: unknown): ApiError {
  return new ApiError(
    'service_unavailable',
    'The settings were not confirmed in time and may still apply; read them back or retry',
    [],
    { cause: error },
  );
}

const GetAutoReload = {
  tags: ['auto-reload'],
  summary: 'Settings, status, cycle figures, last recharge and a preview of the next charge',
  params: PutAutoReload.params,
  response: PutAutoReload.response,
};

function factsFromRecord(record: AutoReloadRecord): AutoReloadFacts {
  const { cycle, lastRecharge } = record;
  return {
    ...record,
    cycle: { ...cycle.cycle, total: cycle.total, inFlight: cycle.inFlight },
    // Only the workflow knows whether its runaway guard holds charging back.
    heldBack: null,
    lastRecharge: lastRecharge && {
      id: lastRecharge.id,
      amount: lastRecharge.amount as Micros,
      status: lastRecharge.status,
      paymentIntentId: lastRecharge.paymentIntentId,
      at: lastRecharge.updatedAt.toISOString(),
    },
  };
}

function factsFromView(view: AutoReloadStateView): AutoReloadFacts {
  return {
    currency: view.currency,
    balance: view.balance,
    settings: view.settings,
    status: view.status,
    cycle: view.cycle,
    heldBack: heldBackOf(view),
    lastRecharge: view.lastRecharge,
  };
}

/** The runaway guard's hold, if any: the daily limit of recharges, or a runaway pause. */
function heldBackOf(view: AutoReloadStateView): AutoReloadFacts['heldBack'] {
  if (view.rateLimitedUntil !== null) {
    return { reason: 'rate_limited', until: view.rateLimitedUntil };
  }
  if (view.runawayPause !== null) {
    return { reason: 'runaway_paused', until: view.runawayPause.recheckAt };
  }
  return null;
}

/** Settings violations from the workflow's validator, as error details. */
function violationsOf(error: unknown): SettingsViolation[] | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = error.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== INVALID_SETTINGS_FAILURE_TYPE) {
    return undefined;
  }
  const details = cause.details?.[0];
  return Array.isArray(details) ? (details as SettingsViolation[]) : [];
}

function invalidSettings(violations: readonly SettingsViolation[]): ApiError {
  const details = violations.map((v) => ({ field: `body.${v.field}`, message: v.message }));
  return new ApiError('invalid_settings', undefined, details);
}

function settingsFrom(body: {
  enabled: boolean;
  mode?: 'fixed' | 'target';
  threshold: string;
  amount: string;
  maxPerCycle: string;
}): AutoReloadSettings {
  return {
    enabled: body.enabled,
    mode: body.mode ?? 'fixed',
    threshold: parseMoney(body.threshold),
    amount: parseMoney(body.amount),
    maxPerCycle: parseMoney(body.maxPerCycle),
  };
}

/** A suggestion is asked for an amount the merchant could actually save. */
function suggestionAmount(raw: string, currency: Currency): Micros {
  const amount = parseMoney(raw);
  const { minAmount, maxAmount } = CURRENCIES[currency];
  const inRange = amount >= minAmount && amount <= maxAmount;
  if (!inRange || !isWholeMinorUnits(amount, currency)) {
    const range = `${formatInCurrency(minAmount as Micros, currency)} to ${formatInCurrency(
      maxAmount as Micros,
      currency,
    )}`;
    throw new ApiError('invalid_request', `amount must be whole ${currency} from ${range}`, [
      { field: 'query.amount', message: `must be from ${range} in whole minor units` },
    ]);
  }
  return amount;
}

export const autoReloadRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const { db } = deps.database;
  const access = { access: ['admin', 'merchant'] as const };

  /**
   * The workflow is the authority on status and cycle figures, and Postgres lags it by a
   * moment (the status is written after an Update answers); the balance comes from the
   * ledger, which the workflow only hears about below the threshold. When the workflow
   * cannot answer in time (worker or Temporal down), Postgres alone answers.
   */
  app.get('/v1/merchants/:id/auto-reload', { schema: GetAutoReload, config: access }, async (r) => {
    const record = await readAutoReload(db, r.params.id);
    const deadline = Date.now() + STATE_QUERY_TIMEOUT_MS;
    try {
      const view = await deps.temporal.withDeadline(deadline, () =>
        deps.engine.workflows.getState(r.params.id),
      );
      return presentAutoReload({ ...factsFromView(view), balance: record.balance });
    } catch (error) {
      r.log.warn({ err: error, merchantId: r.params.id }, 'Auto Reload state read from Postgres');
      return presentAutoReload(factsFromRecord(record));
    }
  });

  app.put('/v1/merchants/:id/auto-reload', { schema: PutAutoReload, config: access }, async (r) => {
    const merchantId = r.params.id;
    const { currency } = await readMerchant(db, merchantId);
    const settings = settingsFrom(r.body);
    // The workflow's validator applies the same rule; checking here too answers at once
    // and never starts a workflow for settings that cannot be saved.
    const invalid = validateSettings(settings, currency);
    if (invalid.length > 0) throw invalidSettings(invalid);
    const deadline = Date.now() + deps.config.workflowAnswerTimeoutMs;
    try {
      const view = await deps.temporal.withDeadline(deadline, () =>
        deps.engine.merchants.updateAutoReload(merchantId, settings),
      );
      r.log.info({ merchantId, enabled: settings.enabled }, 'Auto Reload settings saved');
      return presentAutoReload(factsFromView(view));
    } catch (error) {
      if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw settingsNotAnswered(error);
      }
      const violations = violationsOf(error);
      if (violations === undefined) throw error;
      throw invalidSettings(violations);
    }
  });

  app.get(
    '/v1/merchants/:id/auto-reload/suggestion',
    { schema: GetSuggestion, config: access },
    async (r) => {
      const currency = await deps.currencies.of(r.params.id);
      const amount = suggestionAmount(r.query.amount, currency);
      const suggested = await suggestionFor(db, r.params.id, amount);
      return { maxPerCycle: money(suggested, currency), amount: money(amount, currency) };
    },
  );
  done();
};
