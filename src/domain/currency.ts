import { MICROS_PER_UNIT, type Micros, formatMoney, micros } from './money';

/** Currencies a merchant may hold, with their minor unit and Auto Reload's limits. */
export const CURRENCIES = {
  usd: { minorDigits: 2, minAmount: 20 * MICROS_PER_UNIT, maxAmount: 2_000 * MICROS_PER_UNIT },
  jpy: {
    minorDigits: 0,
    minAmount: 3_000 * MICROS_PER_UNIT,
    maxAmount: 300_000 * MICROS_PER_UNIT,
  },
} as const;

export type Currency = keyof typeof CURRENCIES;

export function isCurrency(value: unknown): value is Currency {
  return typeof value === 'string' && Object.hasOwn(CURRENCIES, value);
}

/** Micros in one minor unit: 10,000 for a US cent, 1,000,000 for a yen. */
export function microsPerMinorUnit(currency: Currency): number {
  return MICROS_PER_UNIT / 10 ** CURRENCIES[currency].minorDigits;
}

/** True when the value is a whole number of the currency's minor units (chargeable). */
export function isWholeMinorUnits(value: Micros, currency: Currency): boolean {
  return value % microsPerMinorUnit(currency) === 0;
}

/** The amount Stripe expects: an integer in the currency's minor unit. */
export function toMinorUnits(value: Micros, currency: Currency): number {
  if (!isWholeMinorUnits(value, currency)) {
    throw new RangeError(`${value} micros is not a whole number of ${currency} minor units`);
  }
  return value / microsPerMinorUnit(currency);
}

export function fromMinorUnits(minor: number, currency: Currency): Micros {
  return micros(minor * microsPerMinorUnit(currency));
}

/** Rounds up to the next whole minor unit, so a top-up never falls short of its target. */
export function ceilToMinorUnits(value: Micros, currency: Currency): Micros {
  const unit = microsPerMinorUnit(currency);
  return micros(Math.ceil(value / unit) * unit);
}

/** Formats with the currency's own minor digits: "20.00" for usd, "3000" for jpy. */
export function formatInCurrency(value: Micros, currency: Currency): string {
  return formatMoney(value, CURRENCIES[currency].minorDigits);
}
