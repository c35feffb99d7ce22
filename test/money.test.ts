import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ceilToMinorUnits,
  formatInCurrency,
  fromMinorUnits,
  isWholeMinorUnits,
  toMinorUnits,
} from '../src/domain/currency';
import { formatMoney, InvalidMoneyError, type Micros, parseMoney } from '../src/domain/money';

describe('parseMoney', () => {
  const accepted: Array<[string, number]> = [
    ['20.00', 20_000_000],
    ['0.0075', 7_500],
    ['0', 0],
    ['2000', 2_000_000_000],
    ['0.000001', 1],
    ['123456.789012', 123_456_789_012],
  ];
  for (const [input, expected] of accepted) {
    test(`reads ${input} as ${expected} micros`, () => {
      assert.equal(parseMoney(input), expected);
    });
  }

  const refused: unknown[] = [
    20,
    20.5,
    '',
    ' 20',
    '20 ',
    '+20',
    '-1',
    '1e3',
    '0x10',
    '20.',
    '.5',
    '01.00',
    '0.0000001',
    '1,00',
    'NaN',
    'Infinity',
    null,
    undefined,
    '99999999999999999',
  ];
  for (const input of refused) {
    test(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseMoney(input), InvalidMoneyError);
    });
  }
});

describe('formatMoney', () => {
  test('keeps two decimals and drops trailing zeros beyond them', () => {
    assert.equal(formatMoney(20_000_000 as Micros), '20.00');
    assert.equal(formatMoney(7_500 as Micros), '0.0075');
    assert.equal(formatMoney(1 as Micros), '0.000001');
    assert.equal(formatMoney(-2_500_000 as Micros), '-2.50');
  });

  test('round-trips every amount through parse and format', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (value) => {
        assert.equal(parseMoney(formatMoney(value as Micros)), value);
      }),
    );
  });
});

describe('currency minor units', () => {
  test('converts usd cents and whole yen for Stripe', () => {
    assert.equal(toMinorUnits(parseMoney('20.00'), 'usd'), 2_000);
    assert.equal(toMinorUnits(parseMoney('3000'), 'jpy'), 3_000);
    assert.equal(fromMinorUnits(2_050, 'usd'), 20_500_000);
  });

  test('refuses amounts finer than the minor unit', () => {
    assert.equal(isWholeMinorUnits(parseMoney('20.005'), 'usd'), false);
    assert.equal(isWholeMinorUnits(parseMoney('3000.5'), 'jpy'), false);
    assert.throws(() => toMinorUnits(parseMoney('0.001'), 'usd'), RangeError);
  });

  test('rounds up to the next minor unit', () => {
    assert.equal(ceilToMinorUnits(parseMoney('20.0001'), 'usd'), 20_010_000);
    assert.equal(ceilToMinorUnits(parseMoney('2999.01'), 'jpy'), 3_000_000_000);
  });

  test('formats in the currency own digits', () => {
    assert.equal(formatInCurrency(parseMoney('3000'), 'jpy'), '3000');
    assert.equal(formatInCurrency(parseMoney('20'), 'usd'), '20.00');
  });
});
