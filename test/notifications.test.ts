/**
 * Merchant notifications (SPEC 3.8) end to end on the real engine: the workflow decides,
 * the notifyMerchant activity signs and POSTs to a small HTTP server standing in for the
 * merchant's endpoint, and Postgres keeps every notification and attempt.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { notificationAttempts, notifications, recharges } from '../src/db/schema';
import type { AutoReloadSettings, AutoReloadStatus } from '../src/domain/auto-reload';
import { parseMoney } from '../src/domain/money';
import { MerchantNotFoundError } from '../src/ledger/errors';
import { saveWebhookEndpoint } from '../src/notifications/endpoints';
import {
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  signNotification,
  verifyNotificationSignature,
} from '../src/notifications/signing';
import type { AutoReloadStateView } from '../src/workflows/state';
import { createTestMerchant, testMerchantId } from './support/merchants';
import { spendCredit, startTestSystem, type TestSystem, waitForView } from './support/system';
import { waitFor } from './support/wait';
import { BASE_SETTINGS } from './support/settings';

const money = parseMoney;
const SETTINGS: AutoReloadSettings = { ...BASE_SETTINGS, maxPerCycle: money('50.00') };

let system: TestSystem;

before(async () => {
  system = await startTestSystem('notifications');
});
after(async () => {
  await system.stop();
});

/** One POST the receiver got, as the merchant's server would see it. */
interface Delivery {
  readonly body: string;
  readonly signature: string;
  readonly eventId: string;
}

/** What a delivery's JSON body holds. */
interface Received {
  readonly id: string;
  readonly type: string;
  readonly createdAt: string;
  readonly merchantId: string;
  readonly data: Record<string, unknown>;
}

interface Receiver {
  readonly url: string;
  readonly deliveries: Delivery[];
}

/**
 * A merchant's endpoint on a free port; `respond` gets the delivery number (1 for the
 * first) and answers the status. Closed when the test ends.
 */
async function startReceiver(
  t: { after(fn: () => Promise<void>): void },
  respond: (delivery: number) => number = () => 200,
): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: String(request.headers[SIGNATURE_HEADER.toLowerCase()]),
        eventId: String(request.headers[EVENT_ID_HEADER.toLowerCase()]),
      });
      response.writeHead(respond(deliveries.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/auto-reload`, deliveries };
}

function parse(delivery: Delivery): Received {
  return JSON.parse(delivery.body) as Received;
}

async function waitForDeliveries(receiver: Receiver, count: number): Promise<Received[]> {
  return waitFor(`${count} deliveries`, () =>
    receiver.deliveries.length >= count ? receiver.deliveries.map(parse) : undefined,
  );
}

function idleWith(status: AutoReloadStatus, attemptsMade: number) {
  return (state: AutoReloadStateView) =>
    state.status === status && state.inFlight === null && state.attemptsMade === attemptsMade;
}

async function notificationRows(merchantId: string) {
  return system.database.db
    .select()
    .from(notifications)
    .where(eq(notifications.merchantId, merchantId));
}

/** A merchant with a balance, settings and an endpoint, whose workflow starts with its card. */
async function merchantWithEndpoint(
  t: { after(fn: () => Promise<void>): void },
  options: { card: string; balance: string; respond?: (delivery: number) => number },
) {
  const merchantId = await createTestMerchant(system.database, {
    balance: money(options.balance),
    settings: SETTINGS,
  });
  const receiver = await startReceiver(t, options.respond);
  const endpoint = await saveWebhookEndpoint(system.database.db, merchantId, receiver.url);
  await system.merchants.savePaymentMethod(merchantId, options.card);
  return { merchantId, receiver, secret: endpoint.secret };
}

function byType(received: readonly Received[], type: string): Received[] {
  return received.filter((event) => event.type === type);
}

describe('merchant notifications', () => {
  test('sends each event of a capped cycle once, signed, with its data', async (t) => {
    const { merchantId, receiver, secret } = await merchantWithEndpoint(t, {
      card: 'pm_card_visa',
      balance: '30.00',
    });
    await system.merchants.updateAutoReload(merchantId, SETTINGS);

    // 30 - 25 = 5: low, charge 20 (40 % of 50), credited to 25.
    await spendCredit(system, merchantId, '25.00');
    await waitForView(system, merchantId, '1st recharge', idleWith('active', 1));
    // 25 - 20 = 5: low, charge 20 (80 %), credited.
    await spendCredit(system, merchantId, '20.00');
    await waitForView(system, merchantId, '2nd recharge', idleWith('active', 2));
    // 25 - 20 = 5: low, and 40 + 20 would pass 50.
    await spendCredit(system, merchantId, '20.00');
    const capped = await waitForView(system, merchantId, 'cap reached', idleWith('cap_reached', 2));
    // Raised to 60: the third charge takes the total to 100 %, past 90 on the way.
    await system.merchants.updateAutoReload(merchantId, {
      ...SETTINGS,
      maxPerCycle: money('60.00'),
    });
    await waitForView(system, merchantId, '3rd recharge', idleWith('active', 3));

    const received = await waitForDeliveries(receiver, 12);
    const counts = Object.fromEntries(
      [...new Set(received.map((event) => event.type))].map((type) => [
        type,
        byType(received, type).length,
      ]),
    );
    assert.deepEqual(counts, {
      'auto_reload.settings_changed': 2,
      'balance.low': 3,
      'auto_reload.succeeded': 3,
      'auto_reload.cap_warning': 3,
      'auto_reload.cap_reached': 1,
    });

    for (const delivery of receiver.deliveries) {
      assert.ok(verifyNotificationSignature(delivery.body, delivery.signature, secret));
      assert.equal(delivery.eventId, parse(delivery).id);
    }
    assert.equal(new Set(received.map((event) => event.id)).size, 12);
    assert.ok(received.every((event) => /^ntf_[0-9a-f-]{36}$/.test(event.id)));
    assert.ok(received.every((event) => event.merchantId === merchantId));

    const common = { merchantId, currency: 'usd' };
    const cycle = capped.cycle;
    assert.deepEqual(
      byType(received, 'auto_reload.cap_warning')
        .map((event) => event.data)
        .sort((a, b) => Number(a.level) - Number(b.level)),
      [
        { level: 80, cycleTotal: '40.00', maxPerCycle: '50.00' },
        { level: 90, cycleTotal: '60.00', maxPerCycle: '60.00' },
        { level: 100, cycleTotal: '60.00', maxPerCycle: '60.00' },
      ].map((level) => ({
        ...common,
        ...level,
        cycleKey: cycle.key,
        cycleStart: cycle.start,
        cycleEnd: cycle.end,
      })),
    );
    assert.deepEqual(byType(received, 'auto_reload.cap_reached')[0]?.data, {
      ...common,
      amount: '20.00',
      cycleKey: cycle.key,
      cycleTotal: '40.00',
      maxPerCycle: '50.00',
      resumesAt: cycle.end,
    });
    const low = { ...common, balance: '5.00', threshold: '10.00', autoReloadEnabled: true };
    assert.deepEqual(
      byType(received, 'balance.low').map((event) => event.data),
      [low, low, low],
    );
    const settings = (maxPerCycle: string) => ({
      ...common,
      settings: { enabled: true, mode: 'fixed', threshold: '10.00', amount: '20.00', maxPerCycle },
    });
    assert.deepEqual(
      byType(received, 'auto_reload.settings_changed')
        .map((event) => event.data)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [settings('50.00'), settings('60.00')],
    );

    const rows = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.merchantId, merchantId))
      .orderBy(asc(recharges.attempt));
    assert.deepEqual(
      byType(received, 'auto_reload.succeeded')
        .map((event) => event.data)
        .sort((a, b) => String(a.cycleTotal).localeCompare(String(b.cycleTotal))),
      rows.map((row, index) => ({
        ...common,
        rechargeId: row.id,
        paymentIntentId: row.paymentIntentId,
        amount: '20.00',
        balance: '25.00',
        cycleKey: cycle.key,
        cycleTotal: ['20.00', '40.00', '60.00'][index],
        maxPerCycle: index < 2 ? '50.00' : '60.00',
      })),
    );

    // The receiver answers before the activity marks the row delivered.
    const stored = await waitFor('12 notifications marked delivered', async () => {
      const rows = await notificationRows(merchantId);
      return rows.filter((row) => row.deliveredAt !== null).length === 12 ? rows : undefined;
    });
    assert.equal(stored.length, 12);
    assert.deepEqual(
      new Set(stored.map((row) => row.id)),
      new Set(received.map((event) => event.id)),
    );
  });

  test('retries an endpoint that answers 500 with the same event until it answers 200', async (t) => {
    const statuses = [500, 500, 200];
    const merchantId = await createTestMerchant(system.database);
    const receiver = await startReceiver(t, (delivery) => statuses[delivery - 1] ?? 200);
    const { secret } = await saveWebhookEndpoint(system.database.db, merchantId, receiver.url);
    // Threshold 0 keeps the zero balance from being low: settings_changed is the only event.
    const settings = { ...SETTINGS, enabled: false, threshold: money('0.00') };
    await system.merchants.updateAutoReload(merchantId, settings);

    const [notification] = await waitFor('the notification delivered', async () => {
      const rows = await notificationRows(merchantId);
      return rows[0]?.deliveredAt ? rows : undefined;
    });
    assert.equal(notification?.type, 'auto_reload.settings_changed');
    assert.equal(receiver.deliveries.length, 3);
    assert.deepEqual(
      receiver.deliveries.map((delivery) => delivery.eventId),
      [notification.id, notification.id, notification.id],
    );
    const bodies = new Set(receiver.deliveries.map((delivery) => delivery.body));
    assert.equal(bodies.size, 1);
    for (const delivery of receiver.deliveries) {
      assert.ok(verifyNotificationSignature(delivery.body, delivery.signature, secret));
    }
    assert.deepEqual(JSON.parse([...bodies][0] ?? ''), notification.payload);

    const attempts = await system.database.db
      .select()
      .from(notificationAttempts)
      .where(eq(notificationAttempts.notificationId, notification.id))
      .orderBy(asc(notificationAttempts.attempt));
    assert.deepEqual(
      attempts.map(({ attempt, statusCode, url, error }) => ({ attempt, statusCode, url, error })),
      statuses.map((statusCode, index) => ({
        attempt: index + 1,
        statusCode,
        url: receiver.url,
        error: null,
      })),
    );
    assert.equal((await notificationRows(merchantId)).length, 1);
  });

  test('tells a declined charge as auto_reload.failed with its codes', async (t) => {
    const { merchantId, receiver } = await merchantWithEndpoint(t, {
      card: 'pm_card_visa_chargeDeclinedLostCard',
      balance: '15.00',
    });
    await spendCredit(system, merchantId, '10.00');
    await waitForView(system, merchantId, 'payment_failed', idleWith('payment_failed', 1));

    const received = await waitForDeliveries(receiver, 2);
    const [row] = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.merchantId, merchantId));
    assert.deepEqual(received.map((event) => event.type).sort(), [
      'auto_reload.failed',
      'balance.low',
    ]);
    assert.deepEqual(byType(received, 'auto_reload.failed')[0]?.data, {
      merchantId,
      currency: 'usd',
      rechargeId: row?.id,
      paymentIntentId: row?.paymentIntentId,
      amount: '20.00',
      failureType: 'hard_decline',
      code: 'card_declined',
      declineCode: 'lost_card',
      status: 'payment_failed',
      retryAt: null,
    });
  });

  test('asks the merchant to authenticate with auto_reload.action_required', async (t) => {
    const { merchantId, receiver } = await merchantWithEndpoint(t, {
      card: 'pm_card_authenticationRequired',
      balance: '15.00',
    });
    await spendCredit(system, merchantId, '10.00');
    await waitForView(system, merchantId, 'action_required', idleWith('action_required', 1));

    const received = await waitForDeliveries(receiver, 2);
    const [row] = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.merchantId, merchantId));
    assert.ok(row?.paymentIntentId?.startsWith('pi_'), 'the PaymentIntent awaiting action');
    assert.deepEqual(received.map((event) => event.type).sort(), [
      'auto_reload.action_required',
      'balance.low',
    ]);
    assert.deepEqual(byType(received, 'auto_reload.action_required')[0]?.data, {
      merchantId,
      currency: 'usd',
      rechargeId: row?.id,
      paymentIntentId: row?.paymentIntentId,
      amount: '20.00',
    });
  });

  test('keeps the notification of a merchant without an endpoint, undelivered', async () => {
    const merchantId = await createTestMerchant(system.database);
    await system.merchants.updateAutoReload(merchantId, { ...SETTINGS, threshold: money('0.00') });

    const [row] = await waitFor('the notification stored', async () => {
      const rows = await notificationRows(merchantId);
      return rows.length > 0 ? rows : undefined;
    });
    assert.equal(row?.type, 'auto_reload.settings_changed');
    assert.equal(row.deliveredAt, null);
    const attempts = await system.database.db
      .select()
      .from(notificationAttempts)
      .where(eq(notificationAttempts.notificationId, row.id));
    assert.deepEqual(attempts, []);
  });
});

describe('webhook endpoints', () => {
  test('a second save changes the url and answers the same secret', async () => {
    const merchantId = await createTestMerchant(system.database);
    const first = await saveWebhookEndpoint(system.database.db, merchantId, 'https://a.test/1');
    const second = await saveWebhookEndpoint(system.database.db, merchantId, 'https://b.test/2');

    assert.match(first.secret, /^whsec_[0-9a-f]{64}$/);
    assert.deepEqual(first, { url: 'https://a.test/1', secret: first.secret });
    assert.deepEqual(second, { url: 'https://b.test/2', secret: first.secret });
  });

  test('each merchant gets a secret of its own', async () => {
    const a = await createTestMerchant(system.database);
    const b = await createTestMerchant(system.database);
    const first = await saveWebhookEndpoint(system.database.db, a, 'https://a.test/');
    const second = await saveWebhookEndpoint(system.database.db, b, 'https://a.test/');
    assert.notEqual(first.secret, second.secret);
  });

  test('refuses an endpoint for a merchant that does not exist', async () => {
    const merchantId = testMerchantId();
    await assert.rejects(
      saveWebhookEndpoint(system.database.db, merchantId, 'https://a.test/'),
      (error: unknown) => error instanceof MerchantNotFoundError && error.merchantId === merchantId,
    );
  });
});

describe('notification signatures', () => {
  const secret = 'whsec_test';
  const body = '{"id":"ntf_1","type":"balance.low"}';
  const nowSec = 1_800_000_000;
  const header = signNotification(body, secret, nowSec);

  test('accept the body, secret and time they were made with', () => {
    assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/);
    assert.equal(verifyNotificationSignature(body, header, secret, { nowSec }), true);
  });

  test('refuse a changed body, another secret or a mangled header', () => {
    assert.equal(verifyNotificationSignature(`${body} `, header, secret, { nowSec }), false);
    assert.equal(verifyNotificationSignature(body, header, 'whsec_other', { nowSec }), false);
    assert.equal(verifyNotificationSignature(body, header.slice(0, -1), secret, { nowSec }), false);
    assert.equal(verifyNotificationSignature(body, 'v1=abc', secret, { nowSec }), false);
    const shifted = header.replace('t=1800000000', 't=1800000001');
    assert.equal(verifyNotificationSignature(body, shifted, secret, { nowSec }), false);
  });

  test('refuse a signature older or newer than the tolerance', () => {
    const late = { nowSec: nowSec + 301 };
    assert.equal(verifyNotificationSignature(body, header, secret, late), false);
    assert.equal(
      verifyNotificationSignature(body, header, secret, { nowSec: nowSec - 301 }),
      false,
    );
    const lenient = { nowSec: nowSec + 301, toleranceSec: 600 };
    assert.equal(verifyNotificationSignature(body, header, secret, lenient), true);
  });

  test('accept any of several v1 values, for a rotated secret', () => {
    const old = signNotification(body, 'whsec_old', nowSec).split(',')[1] ?? '';
    const both = `${header},${old}`;
    assert.equal(verifyNotificationSignature(body, both, 'whsec_old', { nowSec }), true);
    assert.equal(verifyNotificationSignature(body, both, secret, { nowSec }), true);
  });
});
