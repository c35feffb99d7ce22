/**
 * Reaction time: from the debit that crosses a merchant's threshold to the sandbox
 * receiving the PaymentIntent request, beside the floor of the same Temporal server (a
 * signal to a trivial workflow that runs one no-op activity). Both are open loops: one
 * event every SPACING_MS, so that events do not queue behind each other.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../src/activities';
import { connect } from '../src/db/client';
import { parseMoney } from '../src/domain/money';
import { createLedger } from '../src/ledger';
import { logger } from '../src/logger';
import { createMerchantService } from '../src/merchants/service';
import { createMerchantWorkflows } from '../src/merchants/workflow-client';
import { createUsagePipeline } from '../src/pipeline/usage-pipeline';
import { startSandbox } from '../src/sandbox/server';
import { createStripeClient, SANDBOX_SECRET_KEY } from '../src/stripe/client';
import { startDevServer } from '../src/temporal/dev-server';
import { floorWorkflow, pokeSignal } from './floor-workflow';
import type { BenchContext } from './support';

const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 200);
const SPACING_MS = 50;

function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `fire(i)` every SPACING_MS without waiting for the previous one to finish. */
async function openLoop(count: number, fire: (index: number) => Promise<void>): Promise<void> {
  const inFlight: Array<Promise<void>> = [];
  for (let index = 0; index < count; index += 1) {
    inFlight.push(fire(index));
    await pause(SPACING_MS);
  }
  await Promise.all(inFlight);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('bench: timed out waiting for results');
    await pause(200);
  }
}

export async function benchReaction(ctx: BenchContext): Promise<void> {
  const temporal = await startDevServer();
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0 });
  const database = connect(ctx.databaseUrl, { max: 20 });
  const nativeConnection = await NativeConnection.connect({ address: temporal.address });
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: sandbox.url });
  const ledger = createLedger(database);

  const touchedAt = new Map<number, number>();
  const workers = await Promise.all([
    Worker.create({
      connection: nativeConnection,
      taskQueue: 'bench-auto-reload',
      workflowsPath: require.resolve('../src/workflows'),
      activities: createActivities({ db: database.db, stripe, ledger }),
    }),
    Worker.create({
      connection: nativeConnection,
      taskQueue: 'bench-floor',
      workflowsPath: require.resolve('./floor-workflow'),
      activities: {
        touch: (index: number) => {
          touchedAt.set(index, Date.now());
          return Promise.resolve();
        },
      },
    }),
  ]);
  const running = workers.map((worker) => worker.run());
  try {
    const floor = await measureFloor(client, touchedAt);
    const workflows = createMerchantWorkflows(client, 'bench-auto-reload');
    const reaction = await measureReaction(ctx, {
      ledger,
      sandboxUrl: sandbox.url,
      workflows,
      merchants: createMerchantService({ db: database.db, stripe, workflows }),
      pipeline: createUsagePipeline({ ledger, signaller: workflows, log: logger }),
    });
    report(ctx, floor, reaction);
  } finally {
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
    await nativeConnection.close();
    await connection.close();
    await database.close();
    await sandbox.stop();
    await temporal.stop();
  }
}

async function measureFloor(client: Client, touchedAt: Map<number, number>): Promise<number[]> {
  const handles = await Promise.all(
    Array.from({ length: MERCHANTS }, (_, index) =>
      client.workflow.start(floorWorkflow, {
        taskQueue: 'bench-floor',
        workflowId: `floor-${index}-${Date.now()}`,
      }),
    ),
  );
  const sentAt = new Map<number, number>();
  await openLoop(MERCHANTS, async (index) => {
    sentAt.set(index, Date.now());
    await handles[index]?.signal(pokeSignal, index);
  });
  await waitUntil(() => Promise.resolve(touchedAt.size >= MERCHANTS), 60_000);
  await Promise.all(handles.map((handle) => handle.terminate('bench finished')));
  return [...sentAt].map(([index, sent]) => (touchedAt.get(index) ?? NaN) - sent);
}

interface ReactionDeps {
  readonly ledger: ReturnType<typeof createLedger>;
  readonly sandboxUrl: string;
  readonly workflows: ReturnType<typeof createMerchantWorkflows>;
  readonly merchants: ReturnType<typeof createMerchantService>;
  readonly pipeline: ReturnType<typeof createUsagePipeline>;
}

async function prepareMerchants(deps: ReactionDeps): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < MERCHANTS; index += 1) {
    const merchant = await deps.merchants.createMerchant({ name: `Bench shop ${index}` });
    await deps.ledger.creditManual({
      merchantId: merchant.id,
      creditId: 'opening',
      amount: parseMoney('30.00'),
      reason: 'bench opening credit',
    });
    await deps.merchants.savePaymentMethod(merchant.id, 'pm_card_visa');
    await deps.merchants.updateAutoReload(merchant.id, {
      enabled: true,
      mode: 'fixed',
      threshold: parseMoney('10.00'),
      amount: parseMoney('20.00'),
      maxPerCycle: parseMoney('1000.00'),
    });
    ids.push(merchant.id);
  }
  return ids;
}

async function chargeRequestTimes(sandboxUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${sandboxUrl}/_sandbox/requests`);
  const entries = (await response.json()) as Array<{
    method: string;
    path: string;
    idempotencyKey: string | null;
    at: string;
  }>;
  const times = new Map<string, number>();
  for (const entry of entries) {
    if (entry.method !== 'POST' || entry.path !== '/v1/payment_intents' || !entry.idempotencyKey)
      continue;
    const merchantId = entry.idempotencyKey.split(':')[1] ?? '';
    if (!times.has(merchantId)) times.set(merchantId, Date.parse(entry.at));
  }
  return times;
}

async function measureReaction(ctx: BenchContext, deps: ReactionDeps): Promise<number[]> {
  ctx.print(`preparing ${MERCHANTS} merchants (card saved, Auto Reload enabled)...`);
  const ids = await prepareMerchants(deps);
  const debitAt = new Map<string, number>();
  await openLoop(ids.length, async (index) => {
    const merchantId = ids[index] ?? '';
    debitAt.set(merchantId, Date.now());
    await deps.pipeline.recordUsage({
      merchantId,
      eventId: 'bench-cross',
      amount: parseMoney('25.00'),
      kind: 'campaign',
    });
  });
  let times = new Map<string, number>();
  await waitUntil(async () => {
    times = await chargeRequestTimes(deps.sandboxUrl);
    return ids.every((id) => times.has(id));
  }, 60_000);
  return ids.map((id) => (times.get(id) ?? NaN) - (debitAt.get(id) ?? NaN));
}

function report(ctx: BenchContext, floor: number[], reaction: number[]): void {
  const f = percentiles(floor);
  const r = percentiles(reaction);
  ctx.print(`merchants: ${MERCHANTS}, one event every ${SPACING_MS} ms (open loop)`);
  ctx.print('                                   p50 ms   p99 ms');
  ctx.print(
    `floor (signal -> no-op activity)   ${f.p50.toFixed(0).padStart(6)}   ${f.p99.toFixed(0).padStart(6)}`,
  );
  ctx.print(
    `debit -> PaymentIntent request     ${r.p50.toFixed(0).padStart(6)}   ${r.p99.toFixed(0).padStart(6)}`,
  );
  ctx.print(`ratio p99 reaction / floor: ${(r.p99 / f.p99).toFixed(2)} (goal <= 1.5)`);
}
