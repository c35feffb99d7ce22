import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { billingCycleAt } from '../src/domain/billing-cycle';

const at = (iso: string): number => Date.parse(iso);

describe('billingCycleAt', () => {
  test('clamps an anchor on the 31st to the end of shorter months', () => {
    const anchor = '2027-01-31T00:00:00.000Z';
    const feb = billingCycleAt(anchor, at('2027-03-01T00:00:00Z'));
    assert.deepEqual(feb, {
      index: 1,
      start: '2027-02-28T00:00:00.000Z',
      end: '2027-03-31T00:00:00.000Z',
      key: '2027-02-28',
    });
    const mar = billingCycleAt(anchor, at('2027-03-31T00:00:00Z'));
    assert.equal(mar.start, '2027-03-31T00:00:00.000Z');
    assert.equal(mar.end, '2027-04-30T00:00:00.000Z');
  });

  test('uses Feb 29 in a leap year', () => {
    const cycle = billingCycleAt('2028-01-31T12:00:00.000Z', at('2028-03-01T00:00:00Z'));
    assert.equal(cycle.start, '2028-02-29T12:00:00.000Z');
  });

  test('keeps the anchor time of day: just before it is still the previous cycle', () => {
    const anchor = '2026-05-15T10:30:00.000Z';
    assert.equal(billingCycleAt(anchor, at('2026-06-15T10:29:59.999Z')).key, '2026-05-15');
    assert.equal(billingCycleAt(anchor, at('2026-06-15T10:30:00.000Z')).key, '2026-06-15');
  });

  test('handles anchors in the future with negative indexes', () => {
    const cycle = billingCycleAt('2027-01-10T00:00:00.000Z', at('2026-12-20T00:00:00Z'));
    assert.equal(cycle.index, -1);
    assert.equal(cycle.start, '2026-12-10T00:00:00.000Z');
  });

  test('always returns the cycle that contains now, and cycles tile time', () => {
    const instant = fc.integer({
      min: at('2000-01-01T00:00:00Z'),
      max: at('2100-01-01T00:00:00Z'),
    });
    fc.assert(
      fc.property(instant, instant, (anchorMs, nowMs) => {
        const cycle = billingCycleAt(new Date(anchorMs).toISOString(), nowMs);
        assert.ok(Date.parse(cycle.start) <= nowMs && nowMs < Date.parse(cycle.end));
        const next = billingCycleAt(new Date(anchorMs).toISOString(), Date.parse(cycle.end));
        assert.equal(next.start, cycle.end);
        assert.equal(next.index, cycle.index + 1);
      }),
    );
  });
});
