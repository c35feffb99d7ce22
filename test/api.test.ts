/**
 * Every endpoint's success answer, field by field, over the real engine (Postgres,
 * Temporal dev server, worker, Stripe sandbox): once in process with `inject()`, once
 * through HTTP to the same app listening on a port.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { ApiApp } from '../src/api/app';
import { connect } from '../src/db/client';
import { createEngine } from '../src/engine';
import { MAX_RECHARGES_PER_DAY } from '../src/domain/recharge-rule';
import { logger } from '../src/logger';
import { freePort } from '../src/temporal/dev-server';
import {
  ADMIN_KEY,
  PIPELINE_KEY,
  buildTestApp,
  callApp,
  callHttp,
  startTestApi,
  type TestApi,
} from './support/api';
import { testDatabaseUrl } from './support/env';
import {
  createApiMerchant,
  rechargeReadyMerchant,
  useCredit,
  waitForBalance,
} from './support/api-merchants';
import { waitFor } from './support/wait';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let started: TestApi;
let api: TestApi;

before(async () => {
  started = await startTestApi('api');
  api = started;
});
after(async () => {
  await started.stop();
});

for (const transport of ['inject()', 'a listening server'] as const) {
  describe(`over ${transport}`, () => {
    before(async () => {
      api = transport === 'inject()' ? started : await started.listening();
    });

    describe('merchants', () => {
      test('creating a merchant answers its key once and a zero balance', async () => {
        const anchor = '2026-01-31T00:00:00.000Z';
        const body = { name: 'Corner Shop', currency: 'jpy', billingCycleAnchor: anchor };
        const { status, body: created } = await api.call('POST', '/v1/merchants', ADMIN_KEY, body);
        assert.equal(status, 201);
        const { id, apiKey } = created as { id: string; apiKey: string };
        assert.match(id, /^mer_[0-9a-f]{16}$/);
        assert.match(apiKey, /^mk_[A-Za-z0-9_-]{32}$/);
        assert.deepEqual(created, {
          id,
          name: 'Corner Shop',
          currency: 'jpy',
          billingCycleAnchor: anchor,
          apiKey,
          balance: '0',
        });
      });

      test('reading a merchant shows its card and customer but never its key', async () => {
        const merchant = await createApiMerchant(api);
        const card = { paymentMethodId: 'pm_card_visa' };
        await api.call('PUT', `/v1/merchants/${merchant.id}/payment-method`, merchant.apiKey, card);
        const { status, body } = await api.call('GET', `/v1/merchants/${merchant.id}`, ADMIN_KEY);
        assert.equal(status, 200);
        const read = body as Record<string, unknown> & { paymentMethod: { id: string } };
        assert.match(read.stripeCustomerId as string, /^cus_/);
        assert.match(read.createdAt as string, ISO);
        assert.match(read.billingCycleAnchor as string, ISO);
        const now = new Date();
        assert.deepEqual(read, {
          id: merchant.id,
          name: 'Corner Shop',
          currency: 'usd',
          billingCycleAnchor: read.billingCycleAnchor,
          balance: '0.00',
          ledgerSeq: 0,
          stripeCustomerId: read.stripeCustomerId,
          paymentMethod: {
            id: read.paymentMethod.id,
            brand: 'visa',
            last4: '4242',
            expMonth: now.getUTCMonth() + 1,
            expYear: now.getUTCFullYear() + 1,
          },
          createdAt: read.createdAt,
        });
        assert.equal(JSON.stringify(body).includes(merchant.apiKey), false);
      });

      test('saving a card answers the card as the merchant sees it', async () => {
        const merchant = await createApiMerchant(api);
        const { status, body } = await api.call(
          'PUT',
          `/v1/merchants/${merchant.id}/payment-method`,
          merchant.apiKey,
          { paymentMethodId: 'pm_card_visa' },
        );
        assert.equal(status, 200);
        const { paymentMethod } = body as { paymentMethod: Record<string, unknown> };
        assert.match(paymentMethod.id as string, /^pm_/);
        assert.deepEqual(Object.keys(paymentMethod), [
          'id',
          'brand',
          'last4',
          'expMonth',
          'expYear',
        ]);
        assert.equal(paymentMethod.last4, '4242');
      });

      test('a card Stripe refuses answers payment_method_rejected', async () => {
        const merchant = await createApiMerchant(api);
        const { status, body } = await api.call(
          'PUT',
          `/v1/merchants/${merchant.id}/payment-method`,
          merchant.apiKey,
          { paymentMethodId: 'pm_does_not_exist' },
        );
        assert.equal(status, 400);
        assert.equal((body as { error: { code: string } }).error.code, 'payment_method_rejected');
      });

      test('saving a webhook endpoint answers its signing secret, kept on a later save', async () => {
        const merchant = await createApiMerchant(api);
        const path = `/v1/merchants/${merchant.id}/webhook-endpoint`;
        const first = await api.call('PUT', path, merchant.apiKey, {
          url: 'https://shop.test/hooks',
        });
        assert.equal(first.status, 200);
        const { secret } = first.body as { secret: string };
        assert.match(secret, /^whsec_[0-9a-f]{64}$/);
        assert.deepEqual(first.body, { url: 'https://shop.test/hooks', secret });
        const second = await api.call('PUT', path, merchant.apiKey, {
          url: 'https://shop.test/v2',
        });
        assert.deepEqual(second.body, { url: 'https://shop.test/v2', secret });
      });
    });

    describe('balance, usage and credits', () => {
      test('a manual credit answers 201, and 200 with the same figures when repeated', async () => {
        const merchant = await createApiMerchant(api);
        const credit = { id: 'welcome', amount: '15.00', reason: 'welcome credit' };
        const path = `/v1/merchants/${merchant.id}/credits`;
        const first = await api.call('POST', path, ADMIN_KEY, credit);
        assert.deepEqual(first, { ...first, status: 201 });
        assert.deepEqual(first.body, { balance: '15.00', currency: 'usd', ledgerSeq: 1 });
        const again = await api.call('POST', path, ADMIN_KEY, credit);
        assert.equal(again.status, 200);
        assert.deepEqual(again.body, first.body);
      });

      test('usage debits once per id, and a debit past zero is refused with 402', async () => {
        const merchant = await createApiMerchant(api);
        const base = `/v1/merchants/${merchant.id}`;
        await api.call('POST', `${base}/credits`, ADMIN_KEY, {
          id: 'c',
          amount: '1.00',
          reason: 'r',
        });
        const event = { id: 'sms-1', amount: '0.0075', kind: 'order_confirmation' };
        const first = await api.call('POST', `${base}/usage`, PIPELINE_KEY, event);
        assert.equal(first.status, 201);
        assert.deepEqual(first.body, { balance: '0.9925', currency: 'usd', ledgerSeq: 2 });
        const repeat = await api.call('POST', `${base}/usage`, PIPELINE_KEY, event);
        assert.equal(repeat.status, 200);
        assert.deepEqual(repeat.body, first.body);

        const tooMuch = { id: 'sms-2', amount: '1.00', kind: 'campaign' };
        const refused = await api.call('POST', `${base}/usage`, PIPELINE_KEY, tooMuch);
        assert.equal(refused.status, 402);
        assert.equal(
          (refused.body as { error: { code: string } }).error.code,
          'insufficient_funds',
        );
        const balance = await api.call('GET', `${base}/balance`, PIPELINE_KEY);
        assert.deepEqual(balance.body, { balance: '0.9925', currency: 'usd', ledgerSeq: 2 });
      });

      test('a batch answers one result per event, in order, each with its own status', async () => {
        const shop = await createApiMerchant(api);
        const other = await createApiMerchant(api);
        await api.call('POST', `/v1/merchants/${shop.id}/credits`, ADMIN_KEY, {
          id: 'c',
          amount: '0.02',
          reason: 'r',
        });
        const missing = 'mer_0000000000000000';
        const events = [
          { merchantId: shop.id, id: 'b-1', amount: '0.01', kind: 'chat' },
          { merchantId: shop.id, id: 'b-1', amount: '0.01', kind: 'chat' },
          { merchantId: other.id, id: 'b-2', amount: '0.01', kind: 'chat' },
          { merchantId: missing, id: 'b-3', amount: '0.01', kind: 'chat' },
          { merchantId: shop.id, id: 'b-4', amount: '0.005', kind: 'abandoned_cart' },
        ];
        const { status, body } = await api.call('POST', '/v1/usage/batch', PIPELINE_KEY, {
          events,
        });
        assert.equal(status, 200);
        assert.deepEqual(body, {
          results: [
            { merchantId: shop.id, id: 'b-1', status: 'debited', balance: '0.01', ledgerSeq: 2 },
            { merchantId: shop.id, id: 'b-1', status: 'duplicate', balance: '0.01', ledgerSeq: 2 },
            {
              merchantId: other.id,
              id: 'b-2',
              status: 'insufficient_funds',
              balance: '0.00',
              ledgerSeq: 0,
            },
            { merchantId: missing, id: 'b-3', status: 'merchant_not_found' },
            { merchantId: shop.id, id: 'b-4', status: 'debited', balance: '0.005', ledgerSeq: 3 },
          ],
        });
      });

      test('the ledger pages newest first with a cursor', async () => {
        const merchant = await createApiMerchant(api);
        const base = `/v1/merchants/${merchant.id}`;
        await api.call('POST', `${base}/credits`, ADMIN_KEY, {
          id: 'c',
          amount: '5.00',
          reason: 'r',
        });
        await api.call('POST', `${base}/usage`, PIPELINE_KEY, {
          id: 'u',
          amount: '1.25',
          kind: 'chat',
        });

        const first = await api.call('GET', `${base}/ledger?limit=1`, merchant.apiKey);
        assert.equal(first.status, 200);
        const page = first.body as { data: Record<string, unknown>[]; nextCursor: string };
        assert.match(page.data[0]?.createdAt as string, ISO);
        assert.deepEqual(page.data, [
          {
            seq: 2,
            kind: 'usage',
            amount: '-1.25',
            balanceAfter: '3.75',
            id: 'u',
            description: 'chat',
            rechargeId: null,
            createdAt: page.data[0]?.createdAt,
          },
        ]);
        const next = `${base}/ledger?limit=1&cursor=${page.nextCursor}`;
        const second = (await api.call('GET', next, merchant.apiKey)).body as typeof page;
        assert.deepEqual(
          second.data.map((entry) => [entry.seq, entry.kind, entry.amount, entry.description]),
          [[1, 'manual_credit', '5.00', 'r']],
        );
        assert.equal(second.nextCursor, null);
      });
    });

    describe('auto reload', () => {
      test('settings answer the state after the workflow decided on them', async () => {
        const merchant = await createApiMerchant(api);
        const settings = {
          enabled: true,
          threshold: '10.00',
          amount: '25.00',
          maxPerCycle: '80.00',
        };
        const path = `/v1/merchants/${merchant.id}/auto-reload`;
        const { status, body } = await api.call('PUT', path, merchant.apiKey, settings);
        assert.equal(status, 200, JSON.stringify(body));
        const state = body as { cycle: { start: string; end: string } };
        assert.deepEqual(body, {
          enabled: true,
          mode: 'fixed',
          threshold: '10.00',
          amount: '25.00',
          maxPerCycle: '80.00',
          // No card yet: the balance is below the threshold, but nothing can be charged.
          status: 'active',
          balance: '0.00',
          cycle: {
            start: state.cycle.start,
            end: state.cycle.end,
            total: '0.00',
            inFlight: '0.00',
            remaining: '80.00',
          },
          heldBack: null,
          lastRecharge: null,
          nextCharge: { amount: '25.00', due: true, withinCap: true },
        });
        const read = await api.call('GET', path, ADMIN_KEY);
        assert.deepEqual(read.body, body);
      });

      test('a recharge shows in the state, the recharges and the decision log', async () => {
        const merchant = await rechargeReadyMerchant(api);
        const base = `/v1/merchants/${merchant.id}`;
        assert.equal((await useCredit(api, merchant.id, '6.00')).status, 201);
        await waitForBalance(api, merchant.id, '29.00');

        const recharges = await api.call('GET', `${base}/recharges`, merchant.apiKey);
        const [recharge] = (recharges.body as { data: Record<string, string>[] }).data;
        assert.match(recharge?.id ?? '', /^rch_/);
        assert.match(recharge?.paymentIntentId ?? '', /^pi_/);
        assert.deepEqual(recharges.body, {
          data: [
            {
              id: recharge?.id,
              amount: '20.00',
              status: 'succeeded',
              createdAt: recharge?.createdAt,
              paymentIntentId: recharge?.paymentIntentId,
              failure: null,
            },
          ],
          nextCursor: null,
        });

        const events = await api.call('GET', `${base}/auto-reload/events`, merchant.apiKey);
        const log = (events.body as { data: Record<string, unknown>[] }).data;
        assert.deepEqual(
          log.map((d) => [d.outcome, d.reason, d.amount, d.balance, d.cycleTotal, d.status]),
          [['charged', null, '20.00', '9.00', '20.00', 'recharging']],
        );

        const state = (await api.call('GET', `${base}/auto-reload`, merchant.apiKey)).body as {
          status: string;
          cycle: Record<string, string>;
          lastRecharge: Record<string, string>;
          nextCharge: unknown;
        };
        assert.equal(state.status, 'active');
        assert.deepEqual(
          [state.cycle.total, state.cycle.inFlight, state.cycle.remaining],
          ['20.00', '0.00', '80.00'],
        );
        assert.deepEqual(
          [state.lastRecharge.id, state.lastRecharge.amount, state.lastRecharge.status],
          [recharge?.id, '20.00', 'succeeded'],
        );
        assert.deepEqual(state.nextCharge, { amount: '20.00', due: false, withinCap: true });
      });

      test('the daily limit of recharges shows as heldBack, with when it lifts', async () => {
        const merchant = await rechargeReadyMerchant(api);
        const base = `/v1/merchants/${merchant.id}`;
        const settings = {
          enabled: true,
          threshold: '10.00',
          amount: '20.00',
          maxPerCycle: '500.00',
        };
        assert.equal(
          (await api.call('PUT', `${base}/auto-reload`, ADMIN_KEY, settings)).status,
          200,
        );
        // 15.00 opening; each 20.00 spent takes the balance below 10.00 again: ten recharges.
        let balance = 15;
        for (let recharge = 1; recharge <= MAX_RECHARGES_PER_DAY; recharge += 1) {
          assert.equal((await useCredit(api, merchant.id, '6.00')).status, 201);
          balance += 14;
          await waitForBalance(api, merchant.id, `${balance}.00`);
          assert.equal((await useCredit(api, merchant.id, '14.00')).status, 201);
          balance -= 14;
        }
        assert.equal((await useCredit(api, merchant.id, '6.00')).status, 201);
        await waitForBalance(api, merchant.id, '9.00');
        const held = await waitFor('the 11th recharge held back', async () => {
          const { body } = await api.call('GET', `${base}/auto-reload`, merchant.apiKey);
          const state = body as { heldBack: { reason: string; until: string } | null };
          return state.heldBack ?? undefined;
        });
        assert.equal(held.reason, 'rate_limited');
        const { body } = await api.call('GET', `${base}/recharges?limit=100`, ADMIN_KEY);
        const first = (body as { data: { createdAt: string }[] }).data.at(-1);
        const dayAfterFirst = Date.parse(first?.createdAt ?? '') + 24 * 3_600_000;
        // The workflow's clock and Postgres's differ by the time the charge took to record.
        assert.ok(Math.abs(Date.parse(held.until) - dayAfterFirst) < 5_000, held.until);
      });

      test('the suggestion is 5 x amount without history, and follows the busiest cycle', async () => {
        const fresh = await createApiMerchant(api);
        const ask = (id: string, amount: string) =>
          api.call('GET', `/v1/merchants/${id}/auto-reload/suggestion?amount=${amount}`, ADMIN_KEY);
        assert.deepEqual((await ask(fresh.id, '20.00')).body, {
          maxPerCycle: '100.00',
          amount: '20.00',
        });

        const recharged = await rechargeReadyMerchant(api);
        await useCredit(api, recharged.id, '6.00');
        await waitForBalance(api, recharged.id, '29.00');
        await useCredit(api, recharged.id, '20.00');
        await waitForBalance(api, recharged.id, '29.00');
        await waitFor('two recharges', async () => {
          const page = await api.call('GET', `/v1/merchants/${recharged.id}/recharges`, ADMIN_KEY);
          const data = (page.body as { data: { status: string }[] }).data;
          return data.filter((r) => r.status === 'succeeded').length === 2 ? true : undefined;
        });
        // Busiest cycle 40.00, plus 20 percent is 48.00: three recharges of 20.00 cover it.
        assert.deepEqual((await ask(recharged.id, '20.00')).body, {
          maxPerCycle: '60.00',
          amount: '20.00',
        });
        // One recharge of 50.00 would cover 48.00, but the floor is 2 x amount.
        assert.deepEqual((await ask(recharged.id, '50.00')).body, {
          maxPerCycle: '100.00',
          amount: '50.00',
        });
      });
    });

    describe('operations', () => {
      test('healthz and readyz answer without a key', async () => {
        assert.deepEqual((await api.call('GET', '/healthz', null)).body, { status: 'ok' });
        const ready = await api.call('GET', '/readyz', null);
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.body, {
          status: 'ready',
          checks: { postgres: 'up', temporal: 'up' },
        });
      });

      test('metrics count requests, debits and recharges in Prometheus text', async () => {
        const merchant = await createApiMerchant(api);
        await useCredit(api, merchant.id, '1.00');
        const { status, body, headers } = await api.call('GET', '/metrics', null);
        assert.equal(status, 200);
        assert.match(String(headers['content-type']), /^text\/plain/);
        const text = String(body);
        assert.match(text, /auto_reload_usage_debits_total\{status="insufficient_funds"\} [1-9]/);
        assert.match(
          text,
          /auto_reload_http_requests_total\{method="POST",route="\/v1\/merchants"/,
        );
        assert.match(text, /auto_reload_recharges\{status="succeeded"\} \d+/);
        assert.match(text, /auto_reload_balance_signal_failures_total 0/);
      });

      test('the OpenAPI document lists every route of the contract', async () => {
        const { status, body } = await api.call('GET', '/docs/json', null);
        assert.equal(status, 200);
        const paths = Object.keys((body as { paths: Record<string, unknown> }).paths).sort();
        assert.deepEqual(paths, [
          '/healthz',
          '/metrics',
          '/readyz',
          '/v1/merchants',
          '/v1/merchants/{id}',
          '/v1/merchants/{id}/auto-reload',
          '/v1/merchants/{id}/auto-reload/authentication',
          '/v1/merchants/{id}/auto-reload/events',
          '/v1/merchants/{id}/auto-reload/suggestion',
          '/v1/merchants/{id}/balance',
          '/v1/merchants/{id}/credits',
          '/v1/merchants/{id}/ledger',
          '/v1/merchants/{id}/payment-method',
          '/v1/merchants/{id}/recharges',
          '/v1/merchants/{id}/usage',
          '/v1/merchants/{id}/webhook-endpoint',
          '/v1/stripe/webhooks',
          '/v1/usage/batch',
        ]);
      });

      test('every answer carries a request id, and a plain given one is kept', async () => {
        const response = await api.app.inject({
          method: 'GET',
          url: '/healthz',
          headers: { 'x-request-id': 'req-from-the-pipeline' },
        });
        assert.equal(response.headers['x-request-id'], 'req-from-the-pipeline');
        const generated = await api.call('GET', '/healthz', null);
        assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
        // A long or odd id would flood the logs: it is replaced, not echoed.
        const forged = await api.app.inject({
          method: 'GET',
          url: '/healthz',
          headers: { 'x-request-id': 'x'.repeat(5000) },
        });
        assert.match(String(forged.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      });
    });
  });
}

describe('failures of our own', () => {
  async function withDatabase(url: string, run: (app: ApiApp) => Promise<void>) {
    const database = connect(url, { max: 1 });
    const app = await buildTestApp(api.system, { database });
    try {
      await run(app);
    } finally {
      await app.close();
      await database.close();
    }
  }

  test('an unexpected error answers 500 without internals', async () => {
    const missing = testDatabaseUrl().replace(/\/[^/]*$/, '/auto_reload_no_such_database');
    await withDatabase(missing, async (app) => {
      const id = 'mer_0123456789abcdef';
      const answer = await callApp(app, 'GET', `/v1/merchants/${id}`, ADMIN_KEY);
      assert.equal(answer.status, 500);
      assert.deepEqual(answer.body, {
        error: { code: 'internal_error', message: 'Something went wrong on our side', details: [] },
      });
    });
  });

  test('an unreachable database answers 503, and readiness says which part is down', async () => {
    const port = await freePort();
    await withDatabase(`postgres://postgres@127.0.0.1:${port}/nothing`, async (app) => {
      const answer = await callApp(app, 'GET', '/v1/merchants/mer_0123456789abcdef', ADMIN_KEY);
      assert.equal(answer.status, 503);
      assert.equal((answer.body as { error: { code: string } }).error.code, 'service_unavailable');
      const ready = await callApp(app, 'GET', '/readyz', null);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body, {
        status: 'not_ready',
        checks: { postgres: 'down', temporal: 'up' },
      });
    });
  });

  test('settings the workflow does not confirm in time answer 503, never hang', async (t) => {
    const { system } = started;
    // Workflows on a task queue that no worker polls: the Update can never be answered.
    const taskQueue = `no-worker-${process.pid}-${Date.now()}`;
    const engine = createEngine({ ...system, temporal: system.env.client, taskQueue, log: logger });
    const app = await buildTestApp(system, { engine, config: { workflowAnswerTimeoutMs: 1_000 } });
    t.after(() => app.close());
    const created = await callApp(app, 'POST', '/v1/merchants', ADMIN_KEY, { name: 'Stuck' });
    const { id, apiKey } = created.body as { id: string; apiKey: string };
    t.after(() => system.env.client.workflow.getHandle(`auto-reload-${id}`).terminate());

    const settings = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '40.00' };
    const began = Date.now();
    const answer = await callApp(app, 'PUT', `/v1/merchants/${id}/auto-reload`, apiKey, settings);
    assert.equal(answer.status, 503);
    assert.equal((answer.body as { error: { code: string } }).error.code, 'service_unavailable');
    assert.ok(Date.now() - began < 10_000, 'answered near the deadline, not after a hang');
    const rows = await system.database.sql`
      select enabled from auto_reload_settings where merchant_id = ${id}`;
    assert.deepEqual(rows.length, 0);
  });

  test('closing the API lets a request in progress finish, and takes no new ones', async (t) => {
    const { system } = started;
    const taskQueue = `no-worker-${process.pid}-${Date.now()}-drain`;
    const engine = createEngine({ ...system, temporal: system.env.client, taskQueue, log: logger });
    const app = await buildTestApp(system, { engine, config: { workflowAnswerTimeoutMs: 1_500 } });
    const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    const created = await callHttp(baseUrl, 'POST', '/v1/merchants', ADMIN_KEY, { name: 'Drain' });
    const { id, apiKey } = created.body as { id: string; apiKey: string };
    t.after(() => system.env.client.workflow.getHandle(`auto-reload-${id}`).terminate());

    // This request waits about 1.5 s for a workflow no worker runs, then answers 503.
    const settings = { enabled: false, threshold: '1.00', amount: '20.00', maxPerCycle: '40.00' };
    const arrived = once(app.server, 'request');
    const slow = callHttp(baseUrl, 'PUT', `/v1/merchants/${id}/auto-reload`, apiKey, settings);
    await arrived;
    const closeStarted = Date.now();
    const closing = app.close();
    const answer = await slow;
    await closing;
    // Well under the 72 s keep-alive timeout that a lingering connection would cost.
    assert.ok(Date.now() - closeStarted < 10_000, `closed in ${Date.now() - closeStarted} ms`);
    assert.equal(answer.status, 503);
    await assert.rejects(callHttp(baseUrl, 'GET', '/healthz', null));
  });
});
