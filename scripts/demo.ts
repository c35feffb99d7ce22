/**
 * `npm run demo`, with `npm start` running in another terminal: one merchant's life in a
 * few seconds, through the REST API only. Creates a merchant, saves the test card, turns
 * Auto Reload on, sends usage until the balance falls below the threshold, and prints the
 * recharge it caused. Then open the Temporal Web UI and search for the merchant id.
 *
 * Needs the keys `npm start` uses: start both with the same ADMIN_API_KEY and
 * PIPELINE_API_KEY (or copy the generated ones `npm start` printed).
 */
import { createPipelineClient } from '../src/client/pipeline-client';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function requiredKey(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} to the key npm start uses (it printed generated ones)`);
  return value;
}

const baseUrl = process.env.API_URL ?? 'http://127.0.0.1:3000';
const adminKey = requiredKey('ADMIN_API_KEY');
const pipelineKey = requiredKey('PIPELINE_API_KEY');

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok)
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function waitForRecharge(merchantId: string, key: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { data } = await call('GET', `/v1/merchants/${merchantId}/recharges`, key);
    const [last] = data as { status: string; amount: string; paymentIntentId: string }[];
    if (last !== undefined && last.status !== 'pending') return last;
    if (Date.now() > deadline) throw new Error('no recharge within 30 s: is the worker running?');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main(): Promise<void> {
  const merchant = await call('POST', '/v1/merchants', adminKey, { name: 'Demo tea shop' });
  const id = merchant.id as string;
  const key = merchant.apiKey as string;
  print(`merchant ${id} created`);
  const credit = { id: 'demo-opening', amount: '12.00', reason: 'demo opening credit' };
  await call('POST', `/v1/merchants/${id}/credits`, adminKey, credit);
  const saved = await call('PUT', `/v1/merchants/${id}/payment-method`, key, {
    paymentMethodId: 'pm_card_visa',
  });
  const card = saved.paymentMethod as { brand: string; last4: string };
  print(`card saved: ${card.brand} ending ${card.last4}`);
  const settings = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '100.00' };
  await call('PUT', `/v1/merchants/${id}/auto-reload`, key, settings);
  print('Auto Reload on: below 10.00, add 20.00, at most 100.00 a cycle');

  const usage = createPipelineClient({ baseUrl, apiKey: pipelineKey });
  for (let message = 1; message <= 300; message += 1) {
    await usage.recordUsage(id, { id: `demo-sms-${message}`, amount: '0.0075', kind: 'campaign' });
  }
  print('300 campaign messages sent at 0.0075 each');

  const recharge = await waitForRecharge(id, key);
  print(`recharge ${recharge.status}: ${recharge.amount} (${recharge.paymentIntentId})`);
  const { balance } = await usage.getBalance(id);
  const state = await call('GET', `/v1/merchants/${id}/auto-reload`, key);
  print(`balance now ${balance}, status ${String(state.status)}`);
  print(`Web UI: http://127.0.0.1:8233 and search  MerchantId = "${id}"`);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
