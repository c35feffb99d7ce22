/**
 * Money is an integer count of micro-units (1 major unit = 1,000,000 micros), never a float.
 * A plain number is enough: Number.MAX_SAFE_INTEGER micros is about 9 billion major units,
 * far above any prepaid SMS balance, and numbers survive Temporal's JSON payloads unchanged
 * (a bigint would not).
 */
export type Micros = number & { readonly __brand: 'Micros' };

export const MICROS_PER_UNIT = 1_000_000;
const MAX_FRACTION_DIGITS = 6;
const DECIMAL_PATTERN = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,6}))?$/;

/** Thrown when a decimal money string is malformed, negative or too precise. */
export class InvalidMoneyError extends Error {
  override readonly name = 'InvalidMoneyError';
  constructor(
    readonly input: unknown,
    reason: string,
  ) {
    super(`Invalid money value ${JSON.stringify(input)}: ${reason}`);
  }
}

/** Wraps a count of micros after checking it is a safe integer. */
export function micros(value: number): Micros {
  if (!Number.isSafeInteger(value)) {
    throw new InvalidMoneyError(value, 'micros must be a safe integer');
  }
  return value as Micros;
}

/**
 * Parses a non-negative decimal string in major units ("20.00", "0.0075") into micros.
 * Numbers, exponents, signs, blanks and more than 6 fractional digits are refused, because
 * JSON numbers lose precision before we ever see them.
 */
export function parseMoney(input: unknown): Micros {
  if (typeof input !== 'string') {
    throw new InvalidMoneyError(input, 'money must be a decimal string such as "20.00"');
  }
  const match = DECIMAL_PATTERN.exec(input);
  if (!match) {
    const reason = /\.[0-9]{7,}$/.test(input)
      ? `at most ${MAX_FRACTION_DIGITS} fractional digits`
      : 'expected digits with an optional decimal point, no sign or exponent';
    throw new InvalidMoneyError(input, reason);
  }
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').padEnd(MAX_FRACTION_DIGITS, '0');
  const value = Number(whole) * MICROS_PER_UNIT + Number(fraction);
  if (!Number.isSafeInteger(value)) throw new InvalidMoneyError(input, 'amount is too large');
  return value as Micros;
}

/**
 * Formats micros as a decimal string in major units with at least `minFractionDigits`
 * digits and trailing zeros beyond them dropped: 20_000_000 -> "20.00", 7_500 -> "0.0075".
 */
export function formatMoney(value: Micros, minFractionDigits = 2): string {
  const negative = value < 0;
  const abs = Math.abs(value);
  const whole = Math.floor(abs / MICROS_PER_UNIT);
  let fraction = String(abs % MICROS_PER_UNIT).padStart(MAX_FRACTION_DIGITS, '0');
  while (fraction.length > minFractionDigits && fraction.endsWith('0')) {
    fraction = fraction.slice(0, -1);
  }
  const text = fraction.length > 0 ? `${whole}.${fraction}` : String(whole);
  return negative ? `-${text}` : text;
}

export function addMicros(a: Micros, b: Micros): Micros {
  return micros(a + b);
}

export function subtractMicros(a: Micros, b: Micros): Micros {
  return micros(a - b);
}

export const ZERO = 0 as Micros;
