/**
 * The recharge decision of SPEC 3.4 as a pure function, so that the merchant workflow and
 * Node code (the API's "nextCharge" preview) apply exactly the same rule.
 */
import type { AutoReloadSettings, SkipReason } from './auto-reload';
import { type Currency, ceilToMinorUnits } from './currency';
import { type Micros, addMicros, subtractMicros } from './money';

/**
 * A payment problem that blocks new charges until the merchant acts (saves a card or
 * completes authentication). Named after the status it produces.
 */
export type PaymentProblem = 'payment_failed' | 'action_required' | 'retry_scheduled';

export interface RechargeRuleInput {
  readonly settings: AutoReloadSettings;
  readonly currency: Currency;
  readonly balance: Micros;
  /** Added by Auto Reload in the current cycle, counting a charge still in flight. */
  readonly cycleTotal: Micros;
  readonly rechargeInFlight: boolean;
  readonly hasPaymentMethod: boolean;
  readonly paymentProblem: PaymentProblem | null;
  /**
   * Recharges started in the last 24 hours, for the runaway guard; the guard is off when
   * absent (histories recorded before it existed decide without it).
   */
  readonly rechargesInLastDay?: number;
}

/**
 * The runaway guard (SPEC 3.6): at most this many recharges in any 24 hours, whatever the
 * usage. Users of comparable products found 29 charges in 9 days; a loop stops here.
 */
export const MAX_RECHARGES_PER_DAY = 10;
export const RECHARGE_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * `none`: the balance is at or above the threshold, which is not a decision and is never
 * recorded. `skip`: a recharge is due but may not happen, for `reason`. `charge`: charge
 * exactly `amount`.
 */
export type RechargeVerdict =
  | { readonly kind: 'none' }
  | { readonly kind: 'skip'; readonly reason: SkipReason }
  | { readonly kind: 'charge'; readonly amount: Micros };

/**
 * What one recharge would charge at this balance. Fixed mode: exactly `amount`. Target
 * mode: the shortfall to the target (`amount`), rounded up to whole minor units so the
 * balance never ends below the target. Because the rule only charges below the threshold
 * and the target is above it, the shortfall is always at least one minor unit; we do not
 * raise it to the currency's minimum amount, which would overshoot the target the merchant
 * chose (a processor minimum such as Stripe's 0.50 USD then surfaces as a charge failure).
 */
export function rechargeAmount(
  settings: AutoReloadSettings,
  balance: Micros,
  currency: Currency,
): Micros {
  if (settings.mode === 'fixed') return settings.amount;
  return ceilToMinorUnits(subtractMicros(settings.amount, balance), currency);
}

/** The reason a due recharge may not happen now, or null when nothing stands in the way. */
function blockingReason(input: RechargeRuleInput): SkipReason | null {
  if (!input.settings.enabled) return 'disabled';
  if (input.rechargeInFlight) return 'in_flight';
  if (input.paymentProblem !== null) return input.paymentProblem;
  if (!input.hasPaymentMethod) return 'no_payment_method';
  if ((input.rechargesInLastDay ?? 0) >= MAX_RECHARGES_PER_DAY) return 'rate_limited';
  return null;
}

/**
 * Decides whether to recharge now. The cap counts the cycle total including any charge in
 * flight, and a charge that would pass `maxPerCycle` is refused whole: never a partial one.
 */
export function decideRecharge(input: RechargeRuleInput): RechargeVerdict {
  if (input.balance >= input.settings.threshold) return { kind: 'none' };

  const blocked = blockingReason(input);
  if (blocked !== null) return { kind: 'skip', reason: blocked };

  const amount = rechargeAmount(input.settings, input.balance, input.currency);
  if (addMicros(input.cycleTotal, amount) > input.settings.maxPerCycle) {
    return { kind: 'skip', reason: 'cap_reached' };
  }
  return { kind: 'charge', amount };
}
