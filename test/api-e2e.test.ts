/**
 * A merchant's whole life through HTTP only, on a listening API over the real engine: a
 * usage stream drains the balance again and again, the cap is reached and raised, a card
 * is declined and replaced, and the decision log tells the story in order.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createPipelineClient, PipelineRequestError } from '../src/client/pipeline-client';
import { ADMIN_KEY, PIPELINE_KEY, callHttp, startTestApi, type TestApi } from './support/api';
import { waitFor } from './support/wait';

let api: TestApi;
let baseUrl: string;
let usageCounter = 0;

before(async () => {
  api = await startTestApi('api-e2e');
  baseUrl = await api.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await api.stop();
});

/** Real HTTP to the listening API; the body as a JSON object. */
async function http(method: string, path: string, key: string, body?: unknown) {
  const answer = await callHttp(baseUrl, method, path, key, body);
  return { status: answer.status, body: answer.body as Record<string, unknown> };
}

/** `count` usage events of `amount`, as the pipeline sends them: singles, then a batch. */
async function useInStream(merchantId: string, count: number, amount: string) {
  const singles = Math.ceil(count / 2);
  for (let i = 0; i < singles; i += 1) {
    usageCounter += 1;
    const event = { id: `sms-${usageCounter}`, amount, kind: 'campaign' };
    const answer = await http('POST', `/v1/merchants/${merchantId}/usage`, PIPELINE_KEY, event);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
  }
  const events = Array.from({ length: count - singles }, () => {
    usageCounter += 1;
    return { merchantId, id: `sms-${usageCounter}`, amount, kind: 'abandoned_cart' };
  });
  const batch = await http('POST', '/v1/usage/batch', PIPELINE_KEY, { events });
  const statuses = (batch.body.results as { status: string }[]).map((result) => result.status);
  assert.deepEqual(
    statuses,
    events.map(() => 'debited'),
  );
}

async function waitForState(merchantId: string, key: string, status: string, balance: string) {
  return waitFor(`status ${status} at balance ${balance}`, async () => {
    const state = await http('GET', `/v1/merchants/${merchantId}/auto-reload`, key);
    const money = await http('GET', `/v1/merchants/${merchantId}/balance`, key);
    const settled = state.body.status === status && money.body.balance === balance;
    return settled ? state.body : undefined;
  });
}

test('a merchant lives through drains, the cap, a declined card and its replacement', async () => {
  const created = await http('POST', '/v1/merchants', ADMIN_KEY, { name: 'Harbour Books' });
  assert.equal(created.status, 201);
  const id = created.body.id as string;
  const key = created.body.apiKey as string;
  const base = `/v1/merchants/${id}`;

  await http('PUT', `${base}/payment-method`, key, { paymentMethodId: 'pm_card_visa' });
  await http('POST', `${base}/credits`, ADMIN_KEY, {
    id: 'welcome',
    amount: '15.00',
    reason: 'welcome',
  });
  const settings = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '40.00' };
  const saved = await http('PUT', `${base}/auto-reload`, key, settings);
  assert.equal(saved.body.status, 'active');

  // Two drains below 10.00, two recharges of 20.00: the cycle total meets the cap of 40.00.
  await useInStream(id, 6, '1.00');
  await waitForState(id, key, 'active', '29.00');
  await useInStream(id, 20, '1.00');
  const capped = await waitForState(id, key, 'active', '29.00');
  assert.deepEqual(capped.cycle, {
    ...(capped.cycle as object),
    total: '40.00',
    remaining: '0.00',
  });

  // A third drain finds no room: no partial charge, status cap_reached.
  await useInStream(id, 20, '1.00');
  await waitForState(id, key, 'cap_reached', '9.00');

  // Raising the cap resumes at once.
  const raised = await http('PUT', `${base}/auto-reload`, key, {
    ...settings,
    maxPerCycle: '100.00',
  });
  assert.equal(raised.status, 200);
  await waitForState(id, key, 'active', '29.00');

  // A card that is declined: the next recharge fails and blocks Auto Reload.
  const failing = { paymentMethodId: 'pm_card_visa_chargeDeclinedLostCard' };
  assert.equal((await http('PUT', `${base}/payment-method`, key, failing)).status, 200);
  await useInStream(id, 20, '1.00');
  await waitForState(id, key, 'payment_failed', '9.00');

  // Its replacement clears payment_failed and recharges at once.
  await http('PUT', `${base}/payment-method`, key, { paymentMethodId: 'pm_card_visa' });
  const final = await waitForState(id, key, 'active', '29.00');
  assert.deepEqual(final.cycle, { ...(final.cycle as object), total: '80.00', remaining: '20.00' });

  const log = await http('GET', `${base}/auto-reload/events`, key);
  const story = (log.body.data as Record<string, unknown>[])
    .reverse()
    .map((d) => [d.outcome, d.reason, (d.failure as { code: string } | null)?.code, d.amount]);
  // Each charge is logged when it is decided (charged), and again if it fails; the new
  // card ends the problem (resumed) before the charge it allows.
  assert.deepEqual(story, [
    ['charged', null, undefined, '20.00'],
    ['charged', null, undefined, '20.00'],
    ['skipped', 'cap_reached', undefined, null],
    ['charged', null, undefined, '20.00'],
    ['charged', null, undefined, '20.00'],
    ['failed', 'hard_decline', 'card_declined', '20.00'],
    ['resumed', 'payment_method_saved', undefined, null],
    ['charged', null, undefined, '20.00'],
  ]);

  const history = await http('GET', `${base}/recharges`, key);
  const statuses = (history.body.data as { status: string }[]).map((r) => r.status).reverse();
  assert.deepEqual(statuses, ['succeeded', 'succeeded', 'succeeded', 'failed', 'succeeded']);
  // Paging two at a time walks the same recharges, newest first, and then stops.
  const paged: string[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const query: string = cursor === '' ? '?limit=2' : `?limit=2&cursor=${cursor}`;
    const page = await http('GET', `${base}/recharges${query}`, key);
    paged.push(...(page.body.data as { id: string }[]).map((r) => r.id));
    cursor = page.body.nextCursor as string | null;
  }
  assert.deepEqual(
    paged,
    (history.body.data as { id: string }[]).map((r) => r.id),
  );
  const decisionsPage = await http('GET', `${base}/auto-reload/events?limit=3`, key);
  const rest = await http(
    'GET',
    `${base}/auto-reload/events?limit=10&cursor=${decisionsPage.body.nextCursor as string}`,
    key,
  );
  assert.equal((rest.body.data as unknown[]).length, story.length - 3);
  assert.equal(rest.body.nextCursor, null);

  const ledger = await http('GET', `${base}/ledger?limit=500`, key);
  // The welcome credit, 66 usage events and 4 recharge credits.
  assert.equal((ledger.body.data as unknown[]).length, 1 + 66 + 4);
});

test('the pipeline client debits, repeats, refuses and batches through HTTP', async () => {
  const created = await http('POST', '/v1/merchants', ADMIN_KEY, { name: 'Client Shop' });
  const id = created.body.id as string;
  await http('POST', `/v1/merchants/${id}/credits`, ADMIN_KEY, {
    id: 'c',
    amount: '1.00',
    reason: 'r',
  });
  const usage = createPipelineClient({ baseUrl, apiKey: PIPELINE_KEY });

  const event = { id: 'client-1', amount: '0.25', kind: 'chat' } as const;
  assert.deepEqual(await usage.recordUsage(id, event), {
    status: 'debited',
    balance: '0.75',
    ledgerSeq: 2,
  });
  assert.deepEqual(await usage.recordUsage(id, event), {
    status: 'duplicate',
    balance: '0.75',
    ledgerSeq: 2,
  });
  assert.deepEqual(await usage.recordUsage(id, { ...event, id: 'client-2', amount: '5.00' }), {
    status: 'insufficient_funds',
  });
  assert.deepEqual(await usage.recordUsage('mer_0000000000000000', event), {
    status: 'merchant_not_found',
  });
  const batch = await usage.recordUsageBatch([
    { merchantId: id, id: 'client-3', amount: '0.50', kind: 'campaign' },
    { merchantId: id, id: 'client-4', amount: '0.50', kind: 'campaign' },
  ]);
  assert.deepEqual(batch, [
    { merchantId: id, id: 'client-3', status: 'debited', balance: '0.25', ledgerSeq: 3 },
    { merchantId: id, id: 'client-4', status: 'insufficient_funds', balance: '0.25', ledgerSeq: 3 },
  ]);
  assert.deepEqual(await usage.getBalance(id), { balance: '0.25', currency: 'usd', ledgerSeq: 3 });
  await assert.rejects(
    createPipelineClient({ baseUrl, apiKey: 'wrong' }).getBalance(id),
    (error: unknown) => error instanceof PipelineRequestError && error.code === 'unauthorized',
  );
});

test('the pipeline client reports a non-JSON answer (a proxy error page) as a request error', async (t) => {
  const proxy = createServer((request, response) => {
    if (!request.url?.startsWith('/usage-api/v1/')) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => proxy.close());
  const { port } = proxy.address() as AddressInfo;
  // A trailing slash and a path prefix are kept: `/usage-api/v1/...`.
  const usage = createPipelineClient({
    baseUrl: `http://127.0.0.1:${port}/usage-api/`,
    apiKey: PIPELINE_KEY,
  });
  await assert.rejects(
    usage.getBalance('mer_0000000000000000'),
    (error: unknown) =>
      error instanceof PipelineRequestError &&
      error.status === 502 &&
      error.code === 'unexpected_answer',
  );
});
