/**
 * Who may call what (SPEC 5): every route by every kind of key, no key, a wrong key and
 * another merchant's key; then rate limits per key, and keys kept out of the logs.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import {
  ADMIN_KEY,
  PIPELINE_KEY,
  buildTestApp,
  callApp,
  startTestApi,
  type TestApi,
} from './support/api';
import { type ApiMerchant, createApiMerchant, nextId } from './support/api-merchants';

type Kind = 'admin' | 'pipeline' | 'merchant';

interface RouteCase {
  readonly method: string;
  readonly path: (merchantId: string) => string;
  readonly body?: () => unknown;
  /** Kinds of key the route admits; every other kind answers 403. */
  readonly allowed: readonly Kind[];
  /** The error an admitted caller gets when there is nothing to serve (else 2xx). */
  readonly emptyAnswer?: { readonly status: number; readonly code: string };
}

const ROUTES: readonly RouteCase[] = [
  { method: 'POST', path: () => '/v1/merchants', body: () => ({ name: 'x' }), allowed: ['admin'] },
  { method: 'GET', path: (id) => `/v1/merchants/${id}`, allowed: ['admin', 'merchant'] },
  {
    method: 'PUT',
    path: (id) => `/v1/merchants/${id}/payment-method`,
    body: () => ({ paymentMethodId: 'pm_card_visa' }),
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/balance`,
    allowed: ['admin', 'merchant', 'pipeline'],
  },
  {
    method: 'POST',
    path: (id) => `/v1/merchants/${id}/usage`,
    body: () => ({ id: nextId('auth'), amount: '0.01', kind: 'chat' }),
    allowed: ['pipeline'],
  },
  {
    method: 'POST',
    path: (id) => `/v1/merchants/${id}/credits`,
    body: () => ({ id: nextId('auth'), amount: '1.00', reason: 'auth matrix' }),
    allowed: ['admin'],
  },
  { method: 'GET', path: (id) => `/v1/merchants/${id}/ledger`, allowed: ['admin', 'merchant'] },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/auto-reload`,
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'PUT',
    path: (id) => `/v1/merchants/${id}/auto-reload`,
    body: () => ({ enabled: false, threshold: '5.00', amount: '20.00', maxPerCycle: '40.00' }),
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/auto-reload/suggestion?amount=20.00`,
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/recharges`,
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/auto-reload/events`,
    allowed: ['admin', 'merchant'],
  },
  {
    method: 'GET',
    path: (id) => `/v1/merchants/${id}/auto-reload/authentication`,
    allowed: ['merchant'],
    emptyAnswer: { status: 404, code: 'nothing_to_authenticate' },
  },
  {
    method: 'PUT',
    path: (id) => `/v1/merchants/${id}/webhook-endpoint`,
    body: () => ({ url: 'https://shop.test/hooks' }),
    allowed: ['admin', 'merchant'],
  },
];

let api: TestApi;
let own: ApiMerchant;
let other: ApiMerchant;

before(async () => {
  api = await startTestApi('api-auth');
  own = await createApiMerchant(api);
  other = await createApiMerchant(api);
  // Enough balance that the pipeline's usage debits succeed.
  const credit = { id: 'auth-opening', amount: '100.00', reason: 'auth matrix' };
  await api.call('POST', `/v1/merchants/${own.id}/credits`, ADMIN_KEY, credit);
});
after(async () => {
  await api.stop();
});

function keyOf(kind: Kind): string {
  if (kind === 'admin') return ADMIN_KEY;
  return kind === 'pipeline' ? PIPELINE_KEY : own.apiKey;
}

const errorCode = (body: unknown) => (body as { error?: { code?: string } }).error?.code;

describe('the auth matrix', () => {
  for (const route of ROUTES) {
    const name = `${route.method} ${route.path(':id')}`;

    test(`${name}: no key and a wrong key answer 401`, async () => {
      for (const key of [null, 'mk_not_a_real_key', `${ADMIN_KEY}x`]) {
        const answer = await api.call(route.method, route.path(own.id), key, route.body?.());
        assert.equal(answer.status, 401, `key ${key}`);
        assert.equal(errorCode(answer.body), 'unauthorized');
      }
    });

    for (const kind of ['admin', 'pipeline', 'merchant'] as const) {
      const allowed = route.allowed.includes(kind);
      test(`${name}: a ${kind} key ${allowed ? 'is served' : 'answers 403'}`, async () => {
        const answer = await api.call(
          route.method,
          route.path(own.id),
          keyOf(kind),
          route.body?.(),
        );
        if (allowed && route.emptyAnswer) {
          assert.equal(answer.status, route.emptyAnswer.status);
          assert.equal(errorCode(answer.body), route.emptyAnswer.code);
        } else if (allowed) {
          assert.ok(answer.status >= 200 && answer.status < 300, JSON.stringify(answer.body));
        } else {
          assert.equal(answer.status, 403);
          assert.equal(errorCode(answer.body), 'forbidden');
        }
      });
    }

    if (route.allowed.includes('merchant') && route.path('x').includes('x')) {
      test(`${name}: another merchant's key answers 404`, async () => {
        const answer = await api.call(
          route.method,
          route.path(own.id),
          other.apiKey,
          route.body?.(),
        );
        assert.equal(answer.status, 404);
        assert.equal(errorCode(answer.body), 'merchant_not_found');
      });
    }
  }

  test('health, readiness, metrics and docs need no key', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
      assert.equal((await api.call('GET', path, null)).status, 200, path);
    }
  });

  test("Stripe's webhook route needs no key but a signature", async () => {
    const answer = await api.call('POST', '/v1/stripe/webhooks', null, { id: 'evt_1' });
    assert.equal(answer.status, 400);
    assert.equal(errorCode(answer.body), 'invalid_signature');
  });
});

describe('rate limits', () => {
  test('each key has its own budget, and past it answers 429 with the error body', async () => {
    const app = await buildTestApp(api.system, {
      config: { rateLimits: { admin: 100, pipeline: 100, merchant: 2, anonymous: 100 } },
    });
    try {
      const path = `/v1/merchants/${own.id}/balance`;
      const served = [];
      for (let i = 0; i < 3; i += 1)
        served.push((await callApp(app, 'GET', path, own.apiKey)).status);
      const limited = await callApp(app, 'GET', path, own.apiKey);
      assert.deepEqual(served, [200, 200, 429]);
      assert.equal(limited.status, 429);
      assert.equal(errorCode(limited.body), 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      // Another merchant and the admin still have their whole budget.
      const otherPath = `/v1/merchants/${other.id}/balance`;
      assert.equal((await callApp(app, 'GET', otherPath, other.apiKey)).status, 200);
      assert.equal((await callApp(app, 'GET', path, ADMIN_KEY)).status, 200);
    } finally {
      await app.close();
    }
  });
});

describe('guessing keys', () => {
  test('wrong keys count against the address, so a guesser meets 429', async () => {
    const app = await buildTestApp(api.system, {
      config: { rateLimits: { admin: 100, pipeline: 100, merchant: 100, anonymous: 2 } },
    });
    try {
      const path = `/v1/merchants/${own.id}/balance`;
      const statuses = [];
      for (const key of ['adm_guess_1', 'adm_guess_2', 'adm_guess_3', null]) {
        statuses.push((await callApp(app, 'GET', path, key)).status);
      }
      assert.deepEqual(statuses, [401, 401, 429, 429]);
      // A valid key still has its own budget.
      assert.equal((await callApp(app, 'GET', path, ADMIN_KEY)).status, 200);
    } finally {
      await app.close();
    }
  });
});

describe('logs', () => {
  test('keys and authorization headers never reach the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = pino({ level: 'trace' }, sink);
    const app = await buildTestApp(api.system, { log });
    try {
      const created = await callApp(app, 'POST', '/v1/merchants', ADMIN_KEY, { name: 'Logged' });
      const { id, apiKey } = created.body as ApiMerchant;
      await callApp(app, 'GET', `/v1/merchants/${id}`, apiKey);
      await callApp(app, 'GET', `/v1/merchants/${id}`, 'mk_wrong_key_for_the_log');
      await callApp(app, 'POST', `/v1/merchants/${id}/usage`, PIPELINE_KEY, { id: 'l', kind: 'x' });
    } finally {
      await app.close();
    }
    const text = lines.join('');
    assert.ok(lines.length >= 4, 'the requests were logged');
    for (const secret of [ADMIN_KEY, PIPELINE_KEY, 'mk_', 'Bearer', 'mk_wrong_key_for_the_log']) {
      assert.equal(text.includes(secret), false, `${secret} appeared in the log`);
    }
  });
});
