/**
 * The whole engine in one test process, on real services: Postgres (the run's database),
 * the shared Temporal dev server, a Stripe sandbox of its own, a worker with the real
 * activities. Call `stop()` in `after`.
 */
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { Worker } from '@temporalio/worker';
import type Stripe from 'stripe';
import { createActivities } from '../../src/activities';
import { connect, type DatabaseHandle } from '../../src/db/client';
import { autoReloadSettings, recharges } from '../../src/db/schema';
import { createEngine, type Engine } from '../../src/engine';
import { parseMoney } from '../../src/domain/money';
import type { UsageKind } from '../../src/ledger/types';
import { logger } from '../../src/logger';
import { createReconcilerActivities } from '../../src/reconciler/activities';
import type { RequestLogEntry } from '../../src/sandbox/request-log';
import { type RunningSandbox, startSandbox } from '../../src/sandbox/server';
import { createStripeClient, SANDBOX_SECRET_KEY, type StripeConfig } from '../../src/stripe/client';
import { testDatabaseUrl } from './env';
import { control } from './sandbox';
import type { AutoReloadStateView } from '../../src/workflows/state';
import { connectTestEnvironment, uniqueTaskQueue, workflowBundle } from './temporal';
import { waitFor } from './wait';

export interface TestSystem extends Engine {
  readonly database: DatabaseHandle;
  readonly sandbox: RunningSandbox;
  readonly stripe: Stripe;
  readonly env: TestWorkflowEnvironment;
  readonly taskQueue: string;
  stop(): Promise<void>;
}

export interface TestSystemOptions {
  /**
   * The Stripe client's own timeout and retries, for tests of faults that outlast them
   * (a `delay` longer than the timeout); the product's defaults when omitted.
   */
  readonly stripe?: Pick<StripeConfig, 'timeoutMs' | 'maxNetworkRetries'>;
  /** Waits before each new attempt after a soft decline; the product's 1 h, 6 h, 24 h when omitted. */
  readonly softDeclineRetryDelaysMs?: readonly number[];
}

export async function startTestSystem(
  name: string,
  options: TestSystemOptions = {},
): Promise<TestSystem> {
  const database = connect(testDatabaseUrl());
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0 });
  const stripe = createStripeClient({
    ...options.stripe,
    secretKey: SANDBOX_SECRET_KEY,
    apiUrl: sandbox.url,
  });
  const env = await connectTestEnvironment();
  const taskQueue = uniqueTaskQueue(name);
  const engine = createEngine({ database, stripe, temporal: env.client, taskQueue, log: logger });

  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      // Test receivers listen on 127.0.0.1.
      ...createActivities({
        db: database.db,
        stripe,
        ledger: engine.ledger,
        allowPrivateNotificationUrls: true,
        ...(options.softDeclineRetryDelaysMs && {
          softDeclineRetryDelaysMs: options.softDeclineRetryDelaysMs,
        }),
      }),
      ...createReconcilerActivities({ db: database.db, workflows: engine.workflows }),
    },
  });
  const running = worker.run();

  return {
    ...engine,
    database,
    sandbox,
    stripe,
    env,
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
      await sandbox.stop();
      await database.close();
    },
  };
}

/** Requests the sandbox served, oldest first (SPEC 6 control API). */
export async function sandboxRequests(sandbox: RunningSandbox): Promise<RequestLogEntry[]> {
  const { body } = await control(sandbox.url, 'GET', '/_sandbox/requests');
  return body as RequestLogEntry[];
}

/** Adds a fault to the sandbox (SPEC 6); answers its id. */
export async function injectFault(
  sandbox: RunningSandbox,
  fault: {
    method: string;
    path: string;
    mode: string;
    times?: number;
    status?: number;
    delayMs?: number;
  },
): Promise<string> {
  const { status, body } = await control(sandbox.url, 'POST', '/_sandbox/faults', fault);
  if (status !== 201) throw new Error(`Fault refused: ${JSON.stringify(body)}`);
  return (body as { id: string }).id;
}

/** Clears every injected fault. */
export async function clearFaults(sandbox: RunningSandbox): Promise<void> {
  await control(sandbox.url, 'DELETE', '/_sandbox/faults');
}

let usageCounter = 0;

/** Spends `amount` through the pipeline (debit, then the signal) and checks it was debited. */
export async function spendCredit(
  system: TestSystem,
  merchantId: string,
  amount: string,
  kind: UsageKind = 'campaign',
): Promise<void> {
  usageCounter += 1;
  const eventId = `spend-${process.pid}-${usageCounter}`;
  const result = await system.pipeline.recordUsage({
    merchantId,
    eventId,
    amount: parseMoney(amount),
    kind,
  });
  assert.equal(result.status, 'debited');
}

/** Waits until the merchant's workflow state satisfies `predicate`; answers that state. */
export async function waitForView(
  system: TestSystem,
  merchantId: string,
  what: string,
  predicate: (state: AutoReloadStateView) => boolean,
): Promise<AutoReloadStateView> {
  return waitFor(what, async () => {
    const state = await system.workflows.getState(merchantId);
    return predicate(state) ? state : undefined;
  });
}

/** The merchant's recharges as Postgres holds them. */
export async function rechargesOf(system: TestSystem, merchantId: string) {
  return system.database.db.select().from(recharges).where(eq(recharges.merchantId, merchantId));
}

/** The status the workflow last wrote to Postgres; undefined before the first write. */
export async function persistedStatus(
  system: TestSystem,
  merchantId: string,
): Promise<string | undefined> {
  const [row] = await system.database.db
    .select({ status: autoReloadSettings.status })
    .from(autoReloadSettings)
    .where(eq(autoReloadSettings.merchantId, merchantId));
  return row?.status;
}
