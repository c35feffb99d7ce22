/**
 * Billing cycles are calendar months counted from the merchant's anchor instant (UTC).
 * The anchor's day is clamped to the end of shorter months: an anchor on Jan 31 gives
 * cycles starting Feb 28 (or 29), then Mar 31, because each start is computed from the
 * anchor, never from the previous start.
 *
 * Pure and deterministic: used inside the workflow sandbox as well as in Node.
 */
export interface BillingCycle {
  /** Months since the anchor; negative for cycles before it. */
  readonly index: number;
  /** Inclusive start, ISO 8601 UTC. */
  readonly start: string;
  /** Exclusive end, ISO 8601 UTC; also the next cycle's start. */
  readonly end: string;
  /** Stable short name used in idempotency keys: the start date, "2026-02-28". */
  readonly key: string;
}

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

/** The instant the cycle `index` months after the anchor starts, in epoch milliseconds. */
export function cycleStartMs(anchor: Date, index: number): number {
  const totalMonths = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + index;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, month));
  return Date.UTC(
    year,
    month,
    day,
    anchor.getUTCHours(),
    anchor.getUTCMinutes(),
    anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds(),
  );
}

function cycleAt(anchor: Date, index: number): BillingCycle {
  const start = new Date(cycleStartMs(anchor, index)).toISOString();
  return {
    index,
    start,
    end: new Date(cycleStartMs(anchor, index + 1)).toISOString(),
    key: start.slice(0, 10),
  };
}

/** The cycle that contains `nowMs`; the anchor may lie in the past or the future. */
export function billingCycleAt(anchorIso: string, nowMs: number): BillingCycle {
  const anchor = new Date(anchorIso);
  if (Number.isNaN(anchor.getTime())) throw new RangeError(`Invalid anchor ${anchorIso}`);
  const now = new Date(nowMs);
  let index =
    (now.getUTCFullYear() - anchor.getUTCFullYear()) * 12 +
    (now.getUTCMonth() - anchor.getUTCMonth());
  // The month difference is off by at most one either way because of the day and time.
  while (cycleStartMs(anchor, index) > nowMs) index -= 1;
  while (cycleStartMs(anchor, index + 1) <= nowMs) index += 1;
  return cycleAt(anchor, index);
}
