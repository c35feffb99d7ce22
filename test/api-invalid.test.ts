/**
 * Bad input is refused with the right status and error code, and changes nothing: the
 * merchant's balance, ledger, settings and endpoint, and the number of merchants, are
 * compared before and after every case.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_KEY, PIPELINE_KEY, startTestApi, type TestApi } from './support/api';
import { type ApiMerchant, createApiMerchant } from './support/api-merchants';
import { waitFor } from './support/wait';

interface InvalidCase {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  /** `{id}` stands for the usd merchant, `{jpy}` for the jpy one. */
  readonly path: string;
  readonly key: 'admin' | 'pipeline' | 'merchant';
  readonly body?: unknown;
  readonly contentType?: string;
  readonly status: number;
  readonly code: string;
  /** Where the problem is, when the answer names it. */
  readonly field?: string;
}

const USAGE = { id: 'evt-1', amount: '0.01', kind: 'campaign' };
const SETTINGS = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '100.00' };
const usage = (change: Record<string, unknown>) => ({ ...USAGE, ...change });
const settings = (change: Record<string, unknown>) => ({ ...SETTINGS, ...change });
const batch = (events: unknown) => ({ events });
const event = (change: Record<string, unknown> = {}) => ({
  merchantId: '{id}',
  ...USAGE,
  ...change,
});

const bad = (status: number, code: string, field?: string) => ({
  status,
  code,
  ...(field && { field }),
});
const invalid = (field?: string) => bad(400, 'invalid_request', field);
const invalidSettings = (field: string) => bad(400, 'invalid_settings', field);

const POST_USAGE = { method: 'POST', path: '/v1/merchants/{id}/usage', key: 'pipeline' } as const;
const PUT_SETTINGS = {
  method: 'PUT',
  path: '/v1/merchants/{id}/auto-reload',
  key: 'merchant',
} as const;
const CREATE = { method: 'POST', path: '/v1/merchants', key: 'admin' } as const;
const BATCH = { method: 'POST', path: '/v1/usage/batch', key: 'pipeline' } as const;
const CREDIT = { method: 'POST', path: '/v1/merchants/{id}/credits', key: 'admin' } as const;
const LEDGER = { method: 'GET', key: 'merchant' } as const;

const CASES: readonly InvalidCase[] = [
  { name: 'merchant without a name', ...CREATE, body: {}, ...invalid('body.name') },
  { name: 'merchant with an empty name', ...CREATE, body: { name: '' }, ...invalid('body.name') },
  { name: 'merchant name as a number', ...CREATE, body: { name: 5 }, ...invalid('body.name') },
  {
    name: 'unknown currency',
    ...CREATE,
    body: { name: 'x', currency: 'eur' },
    ...invalid('body.currency'),
  },
  {
    name: 'anchor that is not an instant',
    ...CREATE,
    body: { name: 'x', billingCycleAnchor: 'yesterday' },
    ...invalid('body.billingCycleAnchor'),
  },
  {
    name: 'unknown field on a merchant',
    ...CREATE,
    body: { name: 'x', colour: 'red' },
    ...invalid('body.colour'),
  },
  { name: 'body that is an array', ...CREATE, body: [], ...invalid() },
  { name: 'body that is not JSON', ...CREATE, body: '{"name":', ...invalid() },
  {
    name: 'body over the size limit',
    ...CREATE,
    body: { name: 'x'.repeat(300 * 1024) },
    ...bad(413, 'payload_too_large'),
  },
  {
    name: 'body that is not JSON at all',
    ...CREATE,
    body: 'name=x',
    contentType: 'text/plain',
    ...bad(415, 'unsupported_media_type'),
  },
  {
    name: 'money as a number',
    ...POST_USAGE,
    body: usage({ amount: 0.01 }),
    ...invalid('body.amount'),
  },
  {
    name: 'money with seven decimals',
    ...POST_USAGE,
    body: usage({ amount: '0.0000001' }),
    ...invalid('body.amount'),
  },
  { name: 'negative money', ...POST_USAGE, body: usage({ amount: '-1.00' }), ...invalid() },
  { name: 'money with an exponent', ...POST_USAGE, body: usage({ amount: '1e3' }), ...invalid() },
  { name: 'empty money', ...POST_USAGE, body: usage({ amount: '' }), ...invalid('body.amount') },
  { name: 'money with a blank', ...POST_USAGE, body: usage({ amount: ' 1.00' }), ...invalid() },
  { name: 'money with a plus sign', ...POST_USAGE, body: usage({ amount: '+1.00' }), ...invalid() },
  { name: 'usage of zero', ...POST_USAGE, body: usage({ amount: '0.00' }), ...invalid() },
  { name: 'unknown usage kind', ...POST_USAGE, body: usage({ kind: 'sms' }), ...invalid() },
  {
    name: 'usage without an id',
    ...POST_USAGE,
    body: { amount: '0.01', kind: 'chat' },
    ...invalid('body.id'),
  },
  { name: 'usage with an empty id', ...POST_USAGE, body: usage({ id: '' }), ...invalid() },
  {
    name: 'unknown field on usage',
    ...POST_USAGE,
    body: usage({ campaign: 'spring' }),
    ...invalid('body.campaign'),
  },
  {
    name: 'merchant id of the wrong shape',
    ...POST_USAGE,
    path: '/v1/merchants/shop-1/usage',
    body: USAGE,
    ...invalid('params.id'),
  },
  {
    name: 'merchant that does not exist',
    ...POST_USAGE,
    path: '/v1/merchants/mer_0000000000000000/usage',
    body: USAGE,
    ...bad(404, 'merchant_not_found'),
  },
  {
    name: 'usage beyond the balance',
    ...POST_USAGE,
    body: usage({ amount: '1000.00' }),
    ...bad(402, 'insufficient_funds'),
  },
  { name: 'empty batch', ...BATCH, body: batch([]), ...invalid('body.events') },
  {
    name: 'batch of 1001 events',
    ...BATCH,
    body: batch(Array.from({ length: 1001 }, (_, i) => event({ id: `e${i}` }))),
    ...invalid('body.events'),
  },
  {
    name: 'batch with one bad amount',
    ...BATCH,
    body: batch([event({ id: 'a' }), event({ id: 'b', amount: '0.1234567' })]),
    ...invalid('body.events.1.amount'),
  },
  { name: 'batch that is not a list', ...BATCH, body: batch('all'), ...invalid('body.events') },
  {
    name: 'batch event without a merchant',
    ...BATCH,
    body: batch([USAGE]),
    ...invalid('body.events.0.merchantId'),
  },
  {
    name: 'credit of zero',
    ...CREDIT,
    body: { id: 'c', amount: '0.00', reason: 'r' },
    ...invalid(),
  },
  {
    name: 'credit above the largest allowed',
    ...CREDIT,
    body: { id: 'c', amount: '1000000.01', reason: 'r' },
    ...invalid('body.amount'),
  },
  {
    name: 'anchor on a leap second',
    ...CREATE,
    body: { name: 'x', billingCycleAnchor: '2016-12-31T23:59:60Z' },
    ...invalid('body.billingCycleAnchor'),
  },
  {
    name: 'anchor in year 1',
    ...CREATE,
    body: { name: 'x', billingCycleAnchor: '0001-01-01T00:00:00Z' },
    ...invalid('body.billingCycleAnchor'),
  },
  {
    name: 'credit without a reason',
    ...CREDIT,
    body: { id: 'c', amount: '1.00' },
    ...invalid('body.reason'),
  },
  {
    name: 'credit as a number',
    ...CREDIT,
    body: { id: 'c', amount: 10, reason: 'r' },
    ...invalid('body.amount'),
  },
  {
    name: 'amount below the usd minimum',
    ...PUT_SETTINGS,
    body: settings({ amount: '19.99' }),
    ...invalidSettings('body.amount'),
  },
  {
    name: 'amount above the usd maximum',
    ...PUT_SETTINGS,
    body: settings({ amount: '2000.01', maxPerCycle: '5000.00' }),
    ...invalidSettings('body.amount'),
  },
  {
    name: 'maxPerCycle below amount',
    ...PUT_SETTINGS,
    body: settings({ maxPerCycle: '19.00' }),
    ...invalidSettings('body.maxPerCycle'),
  },
  {
    name: 'threshold in fractions of a cent',
    ...PUT_SETTINGS,
    body: settings({ threshold: '10.001' }),
    ...invalidSettings('body.threshold'),
  },
  {
    name: 'jpy amount with a fraction of a yen',
    ...PUT_SETTINGS,
    path: '/v1/merchants/{jpy}/auto-reload',
    key: 'admin',
    body: settings({ amount: '3000.5', maxPerCycle: '9000', threshold: '1000' }),
    ...invalidSettings('body.amount'),
  },
  {
    name: 'jpy amount below its minimum',
    ...PUT_SETTINGS,
    path: '/v1/merchants/{jpy}/auto-reload',
    key: 'admin',
    body: settings({ amount: '2999', maxPerCycle: '9000', threshold: '1000' }),
    ...invalidSettings('body.amount'),
  },
  {
    name: 'target balance above the usd maximum',
    ...PUT_SETTINGS,
    body: settings({
      mode: 'target',
      threshold: '4999999.00',
      amount: '5000000.00',
      maxPerCycle: '9000000.00',
    }),
    ...invalidSettings('body.amount'),
  },
  {
    name: 'enabled as a string',
    ...PUT_SETTINGS,
    body: settings({ enabled: 'yes' }),
    ...invalid('body.enabled'),
  },
  {
    name: 'unknown mode',
    ...PUT_SETTINGS,
    body: settings({ mode: 'percent' }),
    ...invalid('body.mode'),
  },
  {
    name: 'unknown field in settings',
    ...PUT_SETTINGS,
    body: settings({ currency: 'usd' }),
    ...invalid('body.currency'),
  },
  {
    name: 'settings without maxPerCycle',
    ...PUT_SETTINGS,
    body: { enabled: true, threshold: '1.00', amount: '20.00' },
    ...invalid('body.maxPerCycle'),
  },
  {
    name: 'settings money with seven decimals',
    ...PUT_SETTINGS,
    body: settings({ amount: '20.0000001' }),
    ...invalid('body.amount'),
  },
  {
    name: 'suggestion without an amount',
    ...LEDGER,
    path: '/v1/merchants/{id}/auto-reload/suggestion',
    ...invalid('query.amount'),
  },
  {
    name: 'suggestion below the minimum amount',
    ...LEDGER,
    path: '/v1/merchants/{id}/auto-reload/suggestion?amount=5.00',
    ...invalid('query.amount'),
  },
  {
    name: 'suggestion for words',
    ...LEDGER,
    path: '/v1/merchants/{id}/auto-reload/suggestion?amount=twenty',
    ...invalid('query.amount'),
  },
  {
    name: 'ledger cursor that was never given out',
    ...LEDGER,
    path: '/v1/merchants/{id}/ledger?cursor=bm9wZQ',
    ...bad(400, 'invalid_cursor'),
  },
  {
    name: 'ledger limit of zero',
    ...LEDGER,
    path: '/v1/merchants/{id}/ledger?limit=0',
    ...invalid('query.limit'),
  },
  {
    name: 'ledger limit over 500',
    ...LEDGER,
    path: '/v1/merchants/{id}/ledger?limit=501',
    ...invalid('query.limit'),
  },
  {
    name: 'ledger limit in words',
    ...LEDGER,
    path: '/v1/merchants/{id}/ledger?limit=ten',
    ...invalid('query.limit'),
  },
  {
    name: 'unknown query parameter',
    ...LEDGER,
    path: '/v1/merchants/{id}/ledger?order=asc',
    ...invalid('query.order'),
  },
  {
    name: 'recharges cursor that was never given out',
    ...LEDGER,
    path: '/v1/merchants/{id}/recharges?cursor=MjAyNnxub3Bl',
    ...bad(400, 'invalid_cursor'),
  },
  {
    name: 'decision log cursor that was never given out',
    ...LEDGER,
    path: '/v1/merchants/{id}/auto-reload/events?cursor=!!',
    ...bad(400, 'invalid_cursor'),
  },
  {
    name: 'payment method missing',
    method: 'PUT',
    path: '/v1/merchants/{id}/payment-method',
    key: 'merchant',
    body: {},
    ...invalid('body.paymentMethodId'),
  },
  {
    name: 'payment method as a number',
    method: 'PUT',
    path: '/v1/merchants/{id}/payment-method',
    key: 'merchant',
    body: { paymentMethodId: 4242 },
    ...invalid('body.paymentMethodId'),
  },
  {
    name: 'webhook URL with another scheme',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'ftp://shop.test/hooks' },
    ...invalid('body.url'),
  },
  {
    name: 'webhook URL on the cloud metadata address',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'http://169.254.169.254/latest/meta-data' },
    ...invalid('body.url'),
  },
  {
    name: 'webhook URL on localhost',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'http://localhost:12111/_sandbox/reset' },
    ...invalid('body.url'),
  },
  {
    name: 'webhook URL on IPv6 loopback',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'http://[::1]:3000/hooks' },
    ...invalid('body.url'),
  },
  {
    name: 'webhook URL on a private network',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'https://10.1.2.3/hooks' },
    ...invalid('body.url'),
  },
  {
    name: 'webhook URL that is not a URL',
    method: 'PUT',
    path: '/v1/merchants/{id}/webhook-endpoint',
    key: 'merchant',
    body: { url: 'shop hooks' },
    ...invalid('body.url'),
  },
  {
    name: 'unknown query parameter on a route without one',
    ...LEDGER,
    path: '/v1/merchants/{id}/balance?verbose=1',
    ...invalid('query.verbose'),
  },
  {
    name: 'path that is not valid percent-encoding',
    ...LEDGER,
    path: '/v1/merchants/%E0%A4%A/balance',
    ...invalid(),
  },
  {
    name: 'route that does not exist',
    method: 'GET',
    path: '/v1/shops',
    key: 'admin',
    ...bad(404, 'not_found'),
  },
  {
    name: 'merchant id that does not exist',
    method: 'GET',
    path: '/v1/merchants/mer_0000000000000000',
    key: 'admin',
    ...bad(404, 'merchant_not_found'),
  },
];

let api: TestApi;
let usd: ApiMerchant;
let jpy: ApiMerchant;

before(async () => {
  api = await startTestApi('api-invalid');
  usd = await createApiMerchant(api);
  jpy = await createApiMerchant(api, { name: 'Yen Shop', currency: 'jpy' });
  await api.call('POST', `/v1/merchants/${usd.id}/credits`, ADMIN_KEY, {
    id: 'opening',
    amount: '5.00',
    reason: 'opening',
  });
  await api.call('PUT', `/v1/merchants/${usd.id}/webhook-endpoint`, usd.apiKey, {
    url: 'https://shop.test/hooks',
  });
  // A new merchant's workflow writes its first status a moment later; let that settle so
  // it is not mistaken for a change made by a refused request.
  await waitFor('both workflows wrote their status', async () => {
    const rows = await api.system.database.sql`
      select 1 from auto_reload_settings where merchant_id in (${usd.id}, ${jpy.id})`;
    return rows.length === 2 ? true : undefined;
  });
});
after(async () => {
  await api.stop();
});

/** Everything a refused request must leave as it was. */
async function snapshot(): Promise<unknown> {
  const { sql } = api.system.database;
  const [merchants] = await sql`select count(*)::int as count from merchants`;
  const rows = await sql`
    select m.id, m.balance, m.ledger_seq, s.enabled, s.threshold, s.amount, s.max_per_cycle,
      w.url, (select count(*)::int from ledger_entries l where l.merchant_id = m.id) as entries
    from merchants m
    left join auto_reload_settings s on s.merchant_id = m.id
    left join webhook_endpoints w on w.merchant_id = m.id
    where m.id in (${usd.id}, ${jpy.id}) order by m.id`;
  return { merchants, rows: rows.map((row) => ({ ...row })) };
}

function keyFor(kind: InvalidCase['key'], path: string): string {
  if (kind === 'admin') return ADMIN_KEY;
  if (kind === 'pipeline') return PIPELINE_KEY;
  return path.includes(jpy.id) ? jpy.apiKey : usd.apiKey;
}

function resolve(value: unknown): unknown {
  const text = JSON.stringify(value ?? null).replaceAll('{id}', usd.id);
  return value === undefined ? undefined : JSON.parse(text);
}

async function send(item: InvalidCase) {
  const path = item.path.replace('{id}', usd.id).replace('{jpy}', jpy.id);
  const headers: Record<string, string> = { authorization: `Bearer ${keyFor(item.key, path)}` };
  if (item.contentType) headers['content-type'] = item.contentType;
  const raw = typeof item.body === 'string';
  if (raw && !item.contentType) headers['content-type'] = 'application/json';
  const response = await api.app.inject({
    method: item.method,
    url: path,
    headers,
    ...(item.body !== undefined && {
      payload: raw ? String(item.body) : (resolve(item.body) as object),
    }),
  });
  return { status: response.statusCode, body: response.json<unknown>() };
}

test(`the table holds at least 40 invalid inputs (${CASES.length})`, () => {
  assert.ok(CASES.length >= 40);
});

for (const item of CASES) {
  test(`refuses ${item.name}: ${item.status} ${item.code}, nothing changed`, async () => {
    const before = await snapshot();
    const { status, body } = await send(item);
    assert.equal(status, item.status, JSON.stringify(body));
    const error = (body as { error: { code: string; message: string; details: unknown[] } }).error;
    assert.equal(error.code, item.code);
    assert.equal(typeof error.message, 'string');
    assert.ok(Array.isArray(error.details));
    if (item.field) {
      const fields = (error.details as { field?: string }[]).map((detail) => detail.field);
      assert.ok(fields.includes(item.field), `${item.field} not in ${JSON.stringify(fields)}`);
    }
    assert.deepEqual(await snapshot(), before);
  });
}
