/** Merchants made through the API itself, for API tests. */
import assert from 'node:assert/strict';
import { ADMIN_KEY, PIPELINE_KEY, type TestApi } from './api';

/** Anything that calls the API: an in-process test API or a cluster's real one. */
export type ApiCaller = Pick<TestApi, 'call'>;
import { waitFor } from './wait';

export interface ApiMerchant {
  readonly id: string;
  readonly apiKey: string;
}

let counter = 0;

/** A unique id for usage events and credits across the whole test process. */
export function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

export async function createApiMerchant(
  api: ApiCaller,
  body: Record<string, unknown> = { name: 'Corner Shop' },
): Promise<ApiMerchant> {
  const { status, body: answer } = await api.call('POST', '/v1/merchants', ADMIN_KEY, body);
  assert.equal(status, 201, JSON.stringify(answer));
  return answer as ApiMerchant;
}

/** A merchant with a card, an opening credit and Auto Reload at 10 / 20 / 100 usd. */
export async function rechargeReadyMerchant(api: ApiCaller, opening = '15.00') {
  const merchant = await createApiMerchant(api);
  const base = `/v1/merchants/${merchant.id}`;
  const card = { paymentMethodId: 'pm_card_visa' };
  assert.equal(
    (await api.call('PUT', `${base}/payment-method`, merchant.apiKey, card)).status,
    200,
  );
  const credit = { id: nextId('opening'), amount: opening, reason: 'opening credit' };
  assert.equal((await api.call('POST', `${base}/credits`, ADMIN_KEY, credit)).status, 201);
  const settings = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '100.00' };
  const saved = await api.call('PUT', `${base}/auto-reload`, merchant.apiKey, settings);
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  return merchant;
}

export async function useCredit(api: ApiCaller, merchantId: string, amount: string) {
  const event = { id: nextId('usage'), amount, kind: 'campaign' };
  return api.call('POST', `/v1/merchants/${merchantId}/usage`, PIPELINE_KEY, event);
}

/** Waits until the merchant's balance reads exactly `expected`. */
export async function waitForBalance(
  api: ApiCaller,
  merchantId: string,
  expected: string,
  timeoutMs?: number,
) {
  await waitFor(
    `balance ${expected}`,
    async () => {
      const { body } = await api.call('GET', `/v1/merchants/${merchantId}/balance`, ADMIN_KEY);
      return (body as { balance: string }).balance === expected ? true : undefined;
    },
    timeoutMs,
  );
}
