/**
 * Merchants choose where notifications go, so addresses inside our network are refused:
 * when the URL is saved (literal addresses) and again before each delivery.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { connect, type DatabaseHandle } from '../src/db/client';
import { notificationAttempts } from '../src/db/schema';
import { deliverNotification } from '../src/notifications/delivery';
import { saveWebhookEndpoint } from '../src/notifications/endpoints';
import { isNonPublicAddress, refusedAtSave } from '../src/notifications/url-policy';
import { testDatabaseUrl } from './support/env';
import { createTestMerchant } from './support/merchants';

describe('addresses', () => {
  const cases: readonly [string, boolean][] = [
    ['127.0.0.1', true],
    ['10.20.30.40', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['8.8.8.8', false],
    ['2606:4700::1111', false],
  ];
  for (const [address, inside] of cases) {
    test(`${address} is ${inside ? 'refused' : 'allowed'}`, () => {
      assert.equal(isNonPublicAddress(address), inside);
    });
  }

  test('saving refuses localhost and literal inside addresses, and leaves names to delivery', () => {
    assert.equal(refusedAtSave(new URL('http://localhost:3000/x')), 'localhost is not reachable');
    assert.equal(refusedAtSave(new URL('http://[::1]/x')), '::1 is not a public address');
    assert.equal(refusedAtSave(new URL('https://10.0.0.5/x')), '10.0.0.5 is not a public address');
    assert.equal(refusedAtSave(new URL('https://shop.example/hooks')), null);
  });
});

describe('delivery', () => {
  let handle: DatabaseHandle;
  let server: http.Server;
  let received = 0;

  before(async () => {
    handle = connect(testDatabaseUrl(), { max: 2 });
    server = http.createServer((_request, response) => {
      received += 1;
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await handle.close();
  });

  test('an endpoint on our own network is not called, and the attempt says why', async () => {
    const merchantId = await createTestMerchant(handle);
    const { port } = server.address() as AddressInfo;
    await saveWebhookEndpoint(handle.db, merchantId, `http://127.0.0.1:${port}/hooks`);
    const request = {
      notificationId: `ntf_policy_${merchantId}`,
      merchantId,
      type: 'balance.low' as const,
      data: { merchantId, currency: 'usd', balance: '1.00', threshold: '10.00' },
      createdAt: new Date().toISOString(),
    };

    const refused = await deliverNotification({ db: handle.db }, request, 1);
    assert.deepEqual(refused, { delivered: false, reason: 'refused_url' });
    assert.equal(received, 0);
    const attempts = await handle.db
      .select()
      .from(notificationAttempts)
      .where(eq(notificationAttempts.notificationId, request.notificationId));
    assert.deepEqual(
      attempts.map((row) => [row.attempt, row.statusCode, row.error]),
      [[1, null, 'refused: 127.0.0.1 is not a public address']],
    );

    // Where the deployment allows it (a laptop), the same endpoint is delivered to.
    const allowed = await deliverNotification(
      { db: handle.db, allowPrivateUrls: true },
      request,
      2,
    );
    assert.deepEqual(allowed, { delivered: true });
    assert.equal(received, 1);
  });
});
