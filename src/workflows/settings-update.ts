/**
 * Checks and normalises the settings an `updateSettings` Update carries. Pure, so the
 * Update's validator can run it before anything is written to history.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import {
  type AutoReloadSettings,
  type SettingsViolation,
  validateSettings,
} from '../domain/auto-reload';
import type { Currency } from '../domain/currency';
import { INVALID_SETTINGS_FAILURE_TYPE } from './definitions';

/**
 * Throws an `InvalidSettings` ApplicationFailure listing every violation (its details are
 * SettingsViolations), so that the merchant can fix them all at once.
 */
export function assertValidSettings(settings: AutoReloadSettings, currency: Currency): void {
  // The argument arrived as JSON: it may not even be an object.
  const violations: SettingsViolation[] =
    typeof settings === 'object' && settings !== null
      ? validateSettings(settings, currency)
      : [{ field: 'enabled', message: 'settings must be an object' }];
  if (violations.length === 0) return;
  throw ApplicationFailure.create({
    type: INVALID_SETTINGS_FAILURE_TYPE,
    message: `Invalid settings: ${violations.map((v) => v.message).join('; ')}`,
    nonRetryable: true,
    details: violations,
  });
}

/** Copies exactly the settings fields, so stray fields in a request never reach state. */
export function pickSettings(input: AutoReloadSettings): AutoReloadSettings {
  const { enabled, mode, threshold, amount, maxPerCycle } = input;
  return { enabled, mode, threshold, amount, maxPerCycle };
}
