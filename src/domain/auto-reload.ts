import { CURRENCIES, type Currency, formatInCurrency, isWholeMinorUnits } from './currency';
import type { Micros } from './money';

/** How much one recharge adds: a fixed amount, or up to a target balance in one charge. */
export type RechargeMode = 'fixed' | 'target';

/** What the merchant chose (SPEC 1). All money in micros. */
export interface AutoReloadSettings {
  readonly enabled: boolean;
  readonly mode: RechargeMode;
  /** Recharge when the balance is strictly below this. */
  readonly threshold: Micros;
  /** Fixed mode: the charge. Target mode: the balance to top up to. */
  readonly amount: Micros;
  /** Most that Auto Reload may add in one billing cycle, counting the charge in flight. */
  readonly maxPerCycle: Micros;
}

export const AUTO_RELOAD_STATUSES = [
  'disabled',
  'active',
  'recharging',
  'cap_reached',
  'retry_scheduled',
  'payment_failed',
  'action_required',
] as const;
export type AutoReloadStatus = (typeof AUTO_RELOAD_STATUSES)[number];

/** Why a decision did not charge (SPEC 3.4). */
export const SKIP_REASONS = [
  'cap_reached',
  'in_flight',
  'disabled',
  'no_payment_method',
  'payment_failed',
  'action_required',
  'retry_scheduled',
  'rate_limited',
  'runaway_paused',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** A rule the settings break, named for the field at fault. */
export interface SettingsViolation {
  readonly field: keyof AutoReloadSettings;
  readonly message: string;
}

/** Settings of a merchant that has never configured Auto Reload. */
export function defaultSettings(currency: Currency): AutoReloadSettings {
  const { minAmount } = CURRENCIES[currency];
  return {
    enabled: false,
    mode: 'fixed',
    threshold: 0 as Micros,
    amount: minAmount as Micros,
    maxPerCycle: (minAmount * 5) as Micros,
  };
}

/**
 * Checks settings against the currency's limits (SPEC 3.1). Returns every violation so
 * that the merchant can fix them all at once; an empty list means the settings are valid.
 */
export function validateSettings(
  settings: AutoReloadSettings,
  currency: Currency,
): SettingsViolation[] {
  const { minAmount, maxAmount } = CURRENCIES[currency];
  const violations: SettingsViolation[] = [];
  const money = (field: 'threshold' | 'amount' | 'maxPerCycle'): void => {
    const value = settings[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      violations.push({ field, message: `${field} must be a non-negative amount` });
    } else if (!isWholeMinorUnits(value, currency)) {
      violations.push({ field, message: `${field} must be whole ${currency} minor units` });
    }
  };
  money('threshold');
  money('amount');
  money('maxPerCycle');
  if (settings.mode !== 'fixed' && settings.mode !== 'target') {
    violations.push({ field: 'mode', message: 'mode must be "fixed" or "target"' });
  }
  if (settings.mode === 'fixed' && (settings.amount < minAmount || settings.amount > maxAmount)) {
    const range = `${formatInCurrency(minAmount as Micros, currency)} to ${formatInCurrency(
      maxAmount as Micros,
      currency,
    )}`;
    violations.push({ field: 'amount', message: `amount must be from ${range} ${currency}` });
  }
  if (settings.mode === 'target' && settings.amount <= settings.threshold) {
    violations.push({ field: 'amount', message: 'target balance must be above the threshold' });
  }
  // A top-up never exceeds the target itself, so this keeps every charge within the limit.
  if (settings.mode === 'target' && settings.amount > maxAmount) {
    const max = formatInCurrency(maxAmount as Micros, currency);
    violations.push({ field: 'amount', message: `target balance must be at most ${max}` });
  }
  if (settings.mode === 'fixed' && settings.maxPerCycle < settings.amount) {
    violations.push({ field: 'maxPerCycle', message: 'maxPerCycle must be at least amount' });
  }
  if (typeof settings.enabled !== 'boolean') {
    violations.push({ field: 'enabled', message: 'enabled must be true or false' });
  }
  return violations;
}
