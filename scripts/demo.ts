/**
 * `npm run demo`, with `npm start` running in another terminal: one merchant's life in a
 * few seconds. Creates a merchant, saves the test card, turns Auto Reload on, sends usage
 * until the balance falls below the threshold, and prints the recharge it caused. Then
 * open the Temporal Web UI and search for the merchant id it printed.
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { connect } from '../src/db/client';
import { formatMoney, parseMoney } from '../src/domain/money';
import { createEngine } from '../src/engine';
import { logger } from '../src/logger';
import { createStripeClient } from '../src/stripe/client';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<void> {
  const config = loadConfig();
  const database = connect(config.databaseUrl, { max: 2 });
  const connection = await Connection.connect({ address: config.temporalAddress });
  try {
    const client = new Client({ connection, namespace: config.temporalNamespace });
    const { ledger, workflows, merchants, pipeline } = createEngine({
      database,
      stripe: createStripeClient(config.stripe),
      temporal: client,
      taskQueue: config.taskQueue,
      log: logger,
    });

    const merchant = await merchants.createMerchant({ name: 'Demo tea shop' });
    print(`merchant ${merchant.id} created`);
    await ledger.creditManual({
      merchantId: merchant.id,
      creditId: 'demo-opening',
      amount: parseMoney('12.00'),
      reason: 'demo opening credit',
    });
    const card = await merchants.savePaymentMethod(merchant.id, 'pm_card_visa');
    print(`card saved: ${card.brand} ending ${card.last4}`);
    await merchants.updateAutoReload(merchant.id, {
      enabled: true,
      mode: 'fixed',
      threshold: parseMoney('10.00'),
      amount: parseMoney('20.00'),
      maxPerCycle: parseMoney('100.00'),
    });
    print('Auto Reload on: below 10.00, add 20.00, at most 100.00 a cycle');

    for (let message = 1; message <= 300; message += 1) {
      await pipeline.recordUsage({
        merchantId: merchant.id,
        eventId: `demo-sms-${message}`,
        amount: parseMoney('0.0075'),
        kind: 'campaign',
      });
    }
    print('300 campaign messages sent at 0.0075 each');

    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await workflows.getState(merchant.id);
      if (state.lastRecharge !== null && state.inFlight === null) {
        print(`recharge ${state.lastRecharge.status}: ${formatMoney(state.lastRecharge.amount)}`);
        // The ledger is the balance; the workflow hears of debits only below the threshold.
        const balance = await ledger.readBalance(merchant.id);
        print(
          `balance now ${formatMoney(balance?.balance ?? state.balance)}, status ${state.status}`,
        );
        break;
      }
      if (Date.now() > deadline) throw new Error('no recharge within 30 s: is the worker running?');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    print(`Web UI: http://127.0.0.1:8233 and search  MerchantId = "${merchant.id}"`);
  } finally {
    await connection.close();
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
