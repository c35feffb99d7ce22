/**
 * Reaction time: from the debit that crosses a merchant's threshold to the sandbox
 * receiving the PaymentIntent request, beside the floor of the same Temporal server (a
 * signal to a trivial workflow that runs one no-op activity). Both are open loops: one
 * event every BENCH_SPACING_MS (default 100), so that events do not queue behind each
 * other; BENCH_MERCHANTS (default 200) events each. It also prints how long each activity's
 * own code took and, with BENCH_TRACE=1, the history of a median merchant with the gap
 * before each event, which is where to look when the ratio grows.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { temporal } from '@temporalio/proto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../src/activities';
import { connect } from '../src/db/client';
import { createEngine, type Engine } from '../src/engine';
import { parseMoney } from '../src/domain/money';
import { logger } from '../src/logger';
import { createStripeClient, SANDBOX_SECRET_KEY } from '../src/stripe/client';
import { freePort, startDevServer } from '../src/temporal/dev-server';
import { installTemporalRuntime } from '../src/temporal/runtime';
import { merchantWorkflowId } from '../src/workflows/ids';
import { floorWorkflow, pokeSignal } from './floor-workflow';
import { type BenchContext, percentiles } from './support';

const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 200);
const SPACING_MS = Number(process.env.BENCH_SPACING_MS ?? 100);

/** Wraps each activity to collect how long its own code takes, by activity name. */
function timed<T extends object>(activities: T, into: Map<string, number[]>): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      const started = performance.now();
      const merchantId = (args[0] as { merchantId?: string } | undefined)?.merchantId;
      if (name === 'chargeCard' && merchantId) chargeStartedAt.set(merchantId, Date.now());
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        const list = into.get(name) ?? [];
        list.push(performance.now() - started);
        into.set(name, list);
      }
    };
  }
  return wrapped as T;
}

/** When each merchant's chargeCard activity began, to split the reaction time in two. */
const chargeStartedAt = new Map<string, number>();

interface SandboxProcess {
  readonly url: string;
  stop(): Promise<void>;
}

async function startSandboxProcess(): Promise<SandboxProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', require.resolve('../src/sandbox/main')],
    {
      env: { ...process.env, STRIPE_SANDBOX_PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `fire(i)` every SPACING_MS without waiting for the previous one to finish. */
async function openLoop(
  count: number,
  fire: (index: number) => Promise<void> | undefined,
): Promise<void> {
  const inFlight: Array<Promise<void>> = [];
  for (let index = 0; index < count; index += 1) {
    inFlight.push(fire(index) ?? Promise.resolve());
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
  installTemporalRuntime();
  const temporal = await startDevServer();
  // Stripe is another machine in production: the sandbox gets a process of its own, so
  // that serving it does not slow the worker's event loop.
  const sandbox = await startSandboxProcess();
  const database = connect(ctx.databaseUrl, { max: 20 });
  const nativeConnection = await NativeConnection.connect({ address: temporal.address });
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: sandbox.url });
  const engine = createEngine({
    database,
    stripe,
    temporal: client,
    taskQueue: 'bench-auto-reload',
    log: logger,
  });

  const touchedAt = new Map<number, number>();
  const activityTimes = new Map<string, number[]>();
  const workers = await Promise.all([
    Worker.create({
      connection: nativeConnection,
      taskQueue: 'bench-auto-reload',
      workflowsPath: require.resolve('../src/workflows'),
      activities: timed(
        createActivities({ db: database.db, stripe, ledger: engine.ledger }),
        activityTimes,
      ),
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
    const reaction = await measureReaction(ctx, { ...engine, sandboxUrl: sandbox.url });
    report(ctx, floor.latencies, reaction.latencies);
    for (const [name, times] of activityTimes) {
      const { p50, p99 } = percentiles(times);
      ctx.print(
        `  activity ${name.padEnd(16)} n=${times.length} p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      );
    }
    if (process.env.BENCH_TRACE) {
      const sorted = [...reaction.latencies].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
      const merchantId = reaction.ids[reaction.latencies.indexOf(median)] ?? '';
      ctx.print(`history of a median merchant, ${merchantId} (${median} ms):`);
      await traceHistory(ctx, client, merchantWorkflowId(merchantId));
      ctx.print(`history of the first floor workflow, ${floor.firstWorkflowId}:`);
      await traceHistory(ctx, client, floor.firstWorkflowId);
    }
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

async function measureFloor(
  client: Client,
  touchedAt: Map<number, number>,
): Promise<{ latencies: number[]; firstWorkflowId: string }> {
  const handles = await Promise.all(
    Array.from({ length: MERCHANTS }, (_, index) =>
      client.workflow.start(floorWorkflow, {
        taskQueue: 'bench-floor',
        workflowId: `floor-${index}-${Date.now()}`,
      }),
    ),
  );
  // A first round warms every workflow into the worker's cache, as merchants are warm
  // after their set-up; only the second round is measured.
  await openLoop(MERCHANTS, (index) => handles[index]?.signal(pokeSignal, MERCHANTS + index));
  await waitUntil(() => Promise.resolve(touchedAt.size >= MERCHANTS), 60_000);
  const sentAt = new Map<number, number>();
  await openLoop(MERCHANTS, async (index) => {
    sentAt.set(index, Date.now());
    await handles[index]?.signal(pokeSignal, index);
  });
  await waitUntil(() => Promise.resolve(touchedAt.size >= 2 * MERCHANTS), 60_000);
  await Promise.all(handles.map((handle) => handle.terminate('bench finished')));
  return {
    latencies: [...sentAt].map(([index, sent]) => (touchedAt.get(index) ?? NaN) - sent),
    firstWorkflowId: handles[0]?.workflowId ?? '',
  };
}

interface ReactionDeps extends Engine {
  readonly sandboxUrl: string;
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

/** Prints the history of one merchant's workflow with the gap before each event. */
async function traceHistory(ctx: BenchContext, client: Client, workflowId: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  let previousMs = 0;
  for (const event of history.events ?? []) {
    const atMs =
      Number(event.eventTime?.seconds ?? 0) * 1000 +
      Math.floor((event.eventTime?.nanos ?? 0) / 1e6);
    const gapMs = previousMs === 0 ? 0 : atMs - previousMs;
    const activity = event.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
    const type = temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType);
    ctx.print(`  +${String(gapMs).padStart(5)} ms  ${type.replace('EVENT_TYPE_', '')} ${activity}`);
    previousMs = atMs;
  }
}

async function measureReaction(
  ctx: BenchContext,
  deps: ReactionDeps,
): Promise<{ ids: string[]; latencies: number[] }> {
  ctx.print(`preparing ${MERCHANTS} merchants (card saved, Auto Reload enabled)...`);
  const ids = await prepareMerchants(deps);
  const debitAt = new Map<string, number>();
  const signalledAfter: number[] = [];
  await openLoop(ids.length, async (index) => {
    const merchantId = ids[index] ?? '';
    debitAt.set(merchantId, Date.now());
    await deps.pipeline.recordUsage({
      merchantId,
      eventId: 'bench-cross',
      amount: parseMoney('25.00'),
      kind: 'campaign',
    });
    signalledAfter.push(Date.now() - (debitAt.get(merchantId) ?? NaN));
  });
  const signalled = percentiles(signalledAfter);
  ctx.print(`debit + signal returned: p50 ${signalled.p50} ms, p99 ${signalled.p99} ms`);
  let times = new Map<string, number>();
  await waitUntil(async () => {
    times = await chargeRequestTimes(deps.sandboxUrl);
    return ids.every((id) => times.has(id));
  }, 60_000);
  const toActivity = ids.map((id) => (chargeStartedAt.get(id) ?? NaN) - (debitAt.get(id) ?? NaN));
  const { p50, p99 } = percentiles(toActivity);
  ctx.print(`debit -> chargeCard activity start: p50 ${p50} ms, p99 ${p99} ms`);
  return { ids, latencies: ids.map((id) => (times.get(id) ?? NaN) - (debitAt.get(id) ?? NaN)) };
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
