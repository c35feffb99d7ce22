/**
 * The ways the http bench sends usage events: straight to the ledger module, or as
 * requests to the API over an undici Pool. Each answers how many events were not debited.
 */
import type { Pool } from 'undici';
import { formatMoney, micros } from '../src/domain/money';
import type { Ledger } from '../src/ledger';
import type { UsageEvent } from '../src/ledger/types';
import { BENCH_PIPELINE_KEY } from './http-server';

/** One SMS at 0.0075 USD. */
const AMOUNT = micros(7_500);
export const AMOUNT_TEXT = formatMoney(AMOUNT);
export const MODULE = 'ledger module';
const HEADERS = {
  authorization: `Bearer ${BENCH_PIPELINE_KEY}`,
  'content-type': 'application/json',
};

/** Sends events in one call (a request, or a ledger call); answers how many were not debited. */
export interface Driver {
  readonly name: string;
  send(events: readonly UsageEvent[]): Promise<number>;
}

let eventCounter = 0;
const randomIndex = (length: number) => Math.floor(Math.random() * length);

/** `size` events of merchants chosen by `pick` (at random by default), with unique ids. */
export function makeEvents(
  merchants: readonly string[],
  size: number,
  pick = randomIndex,
): UsageEvent[] {
  return Array.from({ length: size }, () => {
    eventCounter += 1;
    const merchantId = merchants[pick(merchants.length)] ?? '';
    return { merchantId, eventId: `http-${eventCounter}`, amount: AMOUNT, kind: 'chat' };
  });
}

/** Single events through debitUsage, several through debitUsageBatch. */
export function moduleDriver(ledger: Ledger): Driver {
  return {
    name: MODULE,
    async send(events) {
      const [first] = events;
      const results =
        events.length === 1 && first
          ? [await ledger.debitUsage(first)]
          : await ledger.debitUsageBatch(events);
      return results.filter((result) => result.status !== 'debited').length;
    },
  };
}

/** The first unexpected answer of each HTTP driver, printed after the tables. */
export const failures = new Map<string, string>();

/** Single events to POST /v1/merchants/{id}/usage, several to POST /v1/usage/batch. */
export function httpDriver(name: string, pool: Pool): Driver {
  const post = async (path: string, payload: unknown, expected: number) => {
    const answer = await pool.request({
      method: 'POST',
      path,
      headers: HEADERS,
      body: JSON.stringify(payload),
    });
    const text = await answer.body.text();
    if (answer.statusCode !== expected && !failures.has(name)) {
      failures.set(name, `${answer.statusCode} ${text.slice(0, 300)}`);
    }
    return answer.statusCode === expected ? text : null;
  };
  return {
    name,
    async send(events) {
      const [first] = events;
      if (events.length === 1 && first) {
        const body = { id: first.eventId, amount: AMOUNT_TEXT, kind: first.kind };
        return (await post(`/v1/merchants/${first.merchantId}/usage`, body, 201)) ? 0 : 1;
      }
      const batch = events.map((event) => ({
        merchantId: event.merchantId,
        id: event.eventId,
        amount: AMOUNT_TEXT,
        kind: event.kind,
      }));
      const text = await post('/v1/usage/batch', { events: batch }, 200);
      if (text === null) return events.length;
      const { results } = JSON.parse(text) as { results: { status: string }[] };
      return results.filter((result) => result.status !== 'debited').length;
    },
  };
}
