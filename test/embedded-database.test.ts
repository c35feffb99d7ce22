/**
 * The embedded PGlite database (src/db/embedded.ts) as our code uses it: over the wire
 * protocol with postgres.js pools, drizzle's migrator and the ledger's statements.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { connect, type DatabaseHandle } from '../src/db/client';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded';
import { migrateDatabase } from '../src/db/migrate';
import { micros } from '../src/domain/money';
import { createLedger } from '../src/ledger';
import { freePort } from '../src/temporal/dev-server';
import { createTestMerchant } from './support/merchants';

async function startOn(dataDir: string): Promise<EmbeddedPostgres> {
  return startEmbeddedPostgres({ dataDir, port: await freePort() });
}

describe('embedded PGlite database', () => {
  let dataDir: string;
  let database: EmbeddedPostgres;
  let handle: DatabaseHandle;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'auto-reload-pglite-'));
    database = await startOn(dataDir);
    await migrateDatabase(database.url);
    handle = connect(database.url);
  });

  after(async () => {
    await handle.close();
    await database.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('takes the migrations and a ledger debit like any Postgres', async () => {
    const merchantId = await createTestMerchant(handle, { balance: micros(5_000_000) });
    const ledger = createLedger(handle);

    const result = await ledger.debitUsage({
      merchantId,
      eventId: 'u1',
      amount: micros(7_500),
      kind: 'campaign',
    });

    assert.deepEqual(result, {
      status: 'debited',
      balance: 4_992_500,
      ledgerSeq: 2,
      enabled: false,
      threshold: null,
      belowThreshold: false,
    });
    assert.deepEqual((await ledger.checkInvariants(merchantId)).violations, []);
  });

  test('keeps concurrent writes from many connections apart', async () => {
    const ledger = createLedger(handle);
    const merchants = [
      await createTestMerchant(handle, { balance: micros(10_000_000) }),
      await createTestMerchant(handle, { balance: micros(10_000_000) }),
    ];
    const debits = Array.from({ length: 300 }, (_, index) =>
      ledger.debitUsage({
        merchantId: merchants[index % 2] ?? '',
        eventId: `u${index}`,
        amount: micros(7_500),
        kind: 'campaign',
      }),
    );
    // Transactions that read back their own write: another connection's statement run
    // inside one of them would make it read someone else's name.
    const transactions = Array.from({ length: 40 }, (_, index) =>
      handle.sql.begin(async (tx) => {
        const id = merchants[index % 2] ?? '';
        await tx`update merchants set name = ${`name ${index}`} where id = ${id}`;
        const [row] = await tx<{ name: string }[]>`select name from merchants where id = ${id}`;
        return row?.name === `name ${index}`;
      }),
    );

    const results = await Promise.all(debits);
    assert.deepEqual(await Promise.all(transactions), Array<boolean>(40).fill(true));
    assert.equal(results.filter((result) => result.status === 'debited').length, 300);
    for (const merchantId of merchants) {
      const report = await ledger.checkInvariants(merchantId);
      assert.equal(report.balance, 10_000_000 - 150 * 7_500);
      assert.deepEqual(report.violations, []);
    }
  });

  test('rolls back the transaction of a client that hangs up in the middle', async () => {
    const merchantId = await createTestMerchant(handle, { name: 'before' });
    const client = postgres(database.url, { max: 1 });
    const reserved = await client.reserve();
    await reserved`begin`;
    await reserved`update merchants set name = 'during' where id = ${merchantId}`;

    await client.end({ timeout: 0 });

    const rows = await handle.sql<{ name: string }[]>`
      select name from merchants where id = ${merchantId}`;
    assert.deepEqual(
      rows.map((row) => row.name),
      ['before'],
    );
  });

  test('keeps its data when restarted on the same folder', async () => {
    const merchantId = await createTestMerchant(handle, { balance: micros(3_000_000) });
    await createLedger(handle).debitUsage({
      merchantId,
      eventId: 'u1',
      amount: micros(1_000_000),
      kind: 'chat',
    });
    await handle.close();
    await database.stop();

    database = await startOn(dataDir);
    await migrateDatabase(database.url);
    handle = connect(database.url);

    const balance = await createLedger(handle).readBalance(merchantId);
    assert.deepEqual(balance, { balance: 2_000_000, ledgerSeq: 2 });
  });
});
