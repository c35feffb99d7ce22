/**
 * The whole engine in one test process, on real services: Postgres (the run's database),
 * the shared Temporal dev server, a Stripe sandbox of its own, a worker with the real
 * activities. Call `stop()` in `after`.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type Stripe from 'stripe';
import { createActivities } from '../../src/activities';
import { connect, type DatabaseHandle } from '../../src/db/client';
import { createLedger, type Ledger } from '../../src/ledger';
import { logger } from '../../src/logger';
import { createMerchantService, type MerchantService } from '../../src/merchants/service';
import {
  createMerchantWorkflows,
  type MerchantWorkflows,
} from '../../src/merchants/workflow-client';
import { createUsagePipeline, type UsagePipeline } from '../../src/pipeline/usage-pipeline';
import { type RunningSandbox, startSandbox } from '../../src/sandbox/server';
import { createStripeClient, SANDBOX_SECRET_KEY } from '../../src/stripe/client';
import { testDatabaseUrl } from './env';
import { connectTestEnvironment, uniqueTaskQueue, workflowBundle } from './temporal';

export interface TestSystem {
  readonly database: DatabaseHandle;
  readonly ledger: Ledger;
  readonly sandbox: RunningSandbox;
  readonly stripe: Stripe;
  readonly env: TestWorkflowEnvironment;
  readonly workflows: MerchantWorkflows;
  readonly merchants: MerchantService;
  readonly pipeline: UsagePipeline;
  readonly taskQueue: string;
  stop(): Promise<void>;
}

export async function startTestSystem(name: string): Promise<TestSystem> {
  const database = connect(testDatabaseUrl());
  const ledger = createLedger(database);
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0 });
  const stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: sandbox.url });
  const env = await connectTestEnvironment();
  const taskQueue = uniqueTaskQueue(name);

  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ db: database.db, stripe, ledger }),
  });
  const running = worker.run();

  const workflows = createMerchantWorkflows(env.client, taskQueue);
  return {
    database,
    ledger,
    sandbox,
    stripe,
    env,
    workflows,
    taskQueue,
    merchants: createMerchantService({ db: database.db, stripe, workflows }),
    pipeline: createUsagePipeline({ ledger, signaller: workflows, log: logger }),
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
export async function sandboxRequests(
  sandbox: RunningSandbox,
): Promise<
  Array<{ method: string; path: string; idempotencyKey: string | null; status: number | null }>
> {
  const response = await fetch(`${sandbox.url}/_sandbox/requests`);
  return (await response.json()) as Array<{
    method: string;
    path: string;
    idempotencyKey: string | null;
    status: number | null;
  }>;
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
  const response = await fetch(`${sandbox.url}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`Fault refused: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}
