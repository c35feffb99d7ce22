/**
 * The recharge rule the merchant workflow applies (SPEC 3.4), as a pure function: the
 * precedence of skip reasons, the strict threshold, the cap counted whole, target mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMoney } from '../src/domain/money';
import {
  type RechargeRuleInput,
  type RechargeVerdict,
  decideRecharge,
  rechargeAmount,
} from '../src/domain/recharge-rule';
import { BASE_SETTINGS } from './support/settings';

const money = parseMoney;
const DUE: RechargeRuleInput = {
  settings: BASE_SETTINGS,
  currency: 'usd',
  balance: money('5.00'),
  cycleTotal: money('0'),
  rechargeInFlight: false,
  hasPaymentMethod: true,
  paymentProblem: null,
};

const CASES: readonly {
  name: string;
  input: Partial<RechargeRuleInput>;
  verdict: RechargeVerdict;
}[] = [
  {
    name: 'charges amount below the threshold',
    input: {},
    verdict: { kind: 'charge', amount: money('20.00') },
  },
  {
    name: 'does nothing at the threshold',
    input: { balance: money('10.00') },
    verdict: { kind: 'none' },
  },
  {
    name: 'does nothing above the threshold, even when disabled',
    input: { balance: money('11.00'), settings: { ...BASE_SETTINGS, enabled: false } },
    verdict: { kind: 'none' },
  },
  {
    name: 'charges the 10th recharge of a day',
    input: { rechargesInLastDay: 9 },
    verdict: { kind: 'charge', amount: money('20.00') },
  },
  {
    name: 'holds back an 11th recharge within 24 hours',
    input: { rechargesInLastDay: 10 },
    verdict: { kind: 'skip', reason: 'rate_limited' },
  },
  {
    name: 'charges when the cap is met exactly',
    input: { cycleTotal: money('80.00') },
    verdict: { kind: 'charge', amount: money('20.00') },
  },
  {
    name: 'refuses, whole, a charge that passes the cap by one cent',
    input: { cycleTotal: money('80.01') },
    verdict: { kind: 'skip', reason: 'cap_reached' },
  },
  {
    name: 'says disabled before anything else',
    input: {
      settings: { ...BASE_SETTINGS, enabled: false },
      rechargeInFlight: true,
      paymentProblem: 'payment_failed',
      hasPaymentMethod: false,
      cycleTotal: money('100.00'),
    },
    verdict: { kind: 'skip', reason: 'disabled' },
  },
  {
    name: 'says in_flight before a payment problem',
    input: { rechargeInFlight: true, paymentProblem: 'payment_failed' },
    verdict: { kind: 'skip', reason: 'in_flight' },
  },
  {
    name: 'says action_required before a missing card',
    input: { paymentProblem: 'action_required', hasPaymentMethod: false },
    verdict: { kind: 'skip', reason: 'action_required' },
  },
  {
    name: 'says no_payment_method before the cap',
    input: { hasPaymentMethod: false, cycleTotal: money('100.00') },
    verdict: { kind: 'skip', reason: 'no_payment_method' },
  },
];

for (const row of CASES) {
  void test(`the rule ${row.name}`, () => {
    assert.deepEqual(decideRecharge({ ...DUE, ...row.input }), row.verdict);
  });
}

void test('target mode charges the shortfall rounded up to the minor unit', () => {
  const target = { ...BASE_SETTINGS, mode: 'target' as const, amount: money('50.00') };
  assert.equal(rechargeAmount(target, money('7.345'), 'usd'), money('42.66'));
  assert.equal(rechargeAmount(target, money('9.999999'), 'usd'), money('40.01'));
  const yen = { ...target, threshold: money('1000'), amount: money('5000') };
  assert.equal(rechargeAmount(yen, money('999.5'), 'jpy'), money('4001'));
});

void test('target mode applies the cap to the shortfall', () => {
  const target = { ...BASE_SETTINGS, mode: 'target' as const, amount: money('50.00') };
  const input = { ...DUE, settings: target, balance: money('5.00') };
  assert.deepEqual(decideRecharge({ ...input, cycleTotal: money('55.00') }), {
    kind: 'charge',
    amount: money('45.00'),
  });
  assert.deepEqual(decideRecharge({ ...input, cycleTotal: money('55.01') }), {
    kind: 'skip',
    reason: 'cap_reached',
  });
});
