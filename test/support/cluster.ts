/**
 * The product as it runs in production, each part a process that a test can kill for real:
 * a Postgres server of its own, a Temporal dev server of its own (its history kept in a
 * file, so a restart loses nothing), the worker and the API as child processes, and the
 * Stripe sandbox in the test's process sending its webhooks to the API. Crash tests and
 * the chaos run drive it over HTTP, as the pipeline and merchants do.
 *
 *   const cluster = await startCluster('crash');
 *   await cluster.worker.kill();       // SIGKILL
 *   await cluster.temporal.kill();
 *   await cluster.temporal.start();
 *   await cluster.stop();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import type Stripe from 'stripe';
import { connect, type DatabaseHandle } from '../../src/db/client';
import {
  createMerchantWorkflows,
  type MerchantWorkflows,
} from '../../src/merchants/workflow-client';
import { type RunningSandbox, startSandbox } from '../../src/sandbox/server';
import { createStripeClient, SANDBOX_SECRET_KEY } from '../../src/stripe/client';
import { freePort, type RunningDevServer, startDevServer } from '../../src/temporal/dev-server';
import { ADMIN_KEY, type ApiAnswer, callHttp, PIPELINE_KEY, WEBHOOK_SECRET } from './api';
import { ChildService } from './child-service';
import { type InvariantSources, runReconciler } from './invariants';
import { type PrivatePostgres, startPrivatePostgres } from './private-postgres';

const TASK_QUEUE = 'auto-reload-cluster';

export interface ClusterOptions {
  /** How often the worker's reconciler schedule runs. @default 60, the product's default */
  readonly reconcilerIntervalSeconds?: number;
  /** How long the worker's Stripe client waits for an answer. @default 20_000 */
  readonly stripeTimeoutMs?: number;
}

/** A process a test can kill for real and start again. */
export interface Restartable {
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface Cluster {
  readonly worker: ChildService;
  readonly api: ChildService;
  readonly postgres: PrivatePostgres;
  readonly sandbox: RunningSandbox;
  /** The test's own connection to the cluster's database. */
  readonly database: DatabaseHandle;
  readonly stripe: Stripe;
  readonly workflows: MerchantWorkflows;
  readonly taskQueue: string;
  /** What the invariant checks read. */
  readonly sources: InvariantSources;
  /** Calls the API over HTTP with a Bearer key; JSON in and out. */
  call(method: string, url: string, key: string | null, body?: unknown): Promise<ApiAnswer>;
  /**
   * The Temporal server: `kill()` is a SIGKILL, its history stays in its file; `start()`
   * brings it back on the same port and file.
   */
  readonly temporal: Restartable;
  /** Runs the reconciler once over these merchants, as its schedule would. */
  reconcile(merchantIds: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

async function createDatabase(postgresServer: PrivatePostgres): Promise<void> {
  const admin = postgres(postgresServer.url.replace(/\/[^/]*$/, '/postgres'), {
    max: 1,
    onnotice: () => undefined,
  });
  await admin.unsafe('create database auto_reload');
  await admin.end();
}

/** The Temporal server, restartable on its port with its history file. */
class RestartableTemporal implements Restartable {
  private server: RunningDevServer | null = null;

  constructor(
    private readonly port: number,
    private readonly dbFilename: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = await startDevServer({ port: this.port, dbFilename: this.dbFilename });
  }

  async kill(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    if (server.process.exitCode === null) server.process.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }
}

/** Environment shared by the worker and the API children. */
function childEnv(settings: {
  databaseUrl: string;
  temporalAddress: string;
  sandboxUrl: string;
  apiPort: number;
  reconcilerIntervalSeconds: number;
  stripeTimeoutMs: number | undefined;
}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH,
    WORKFLOW_BUNDLE_PATH: process.env.WORKFLOW_BUNDLE_PATH,
    DATABASE_URL: settings.databaseUrl,
    TEMPORAL_ADDRESS: settings.temporalAddress,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    STRIPE_API_URL: settings.sandboxUrl,
    STRIPE_SECRET_KEY: SANDBOX_SECRET_KEY,
    STRIPE_TIMEOUT_MS: settings.stripeTimeoutMs?.toString(),
    ADMIN_API_KEY: ADMIN_KEY,
    PIPELINE_API_KEY: PIPELINE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    API_PORT: String(settings.apiPort),
    RECONCILER_INTERVAL_SECONDS: String(settings.reconcilerIntervalSeconds),
    ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
  };
}

/**
 * Stops, newest first, what was started so far: a start-up that fails half-way leaves no
 * Postgres or Temporal server running behind the test.
 */
class Teardown {
  private readonly steps: (() => Promise<unknown> | void)[] = [];

  add(step: () => Promise<unknown> | void): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.reverse()) await step();
    this.steps.length = 0;
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const teardown = new Teardown();
  try {
    return await assembleCluster(options, teardown);
  } catch (error) {
    await teardown.run();
    throw error;
  }
}

async function assembleCluster(options: ClusterOptions, teardown: Teardown): Promise<Cluster> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'auto-reload-cluster-'));
  teardown.add(() => rmSync(scratch, { recursive: true, force: true }));
  const postgresServer = await startPrivatePostgres();
  teardown.add(() => postgresServer.stop());
  await createDatabase(postgresServer);
  const temporal = new RestartableTemporal(await freePort(), path.join(scratch, 'temporal.sqlite'));
  teardown.add(() => temporal.stop());
  await temporal.start();
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sandbox = await startSandbox({
    host: '127.0.0.1',
    port: 0,
    webhookUrl: `${apiUrl}/v1/stripe/webhooks`,
    webhookSecret: WEBHOOK_SECRET,
  });
  teardown.add(() => sandbox.stop());
  const env = childEnv({
    databaseUrl: postgresServer.url,
    temporalAddress: temporal.address,
    sandboxUrl: sandbox.url,
    apiPort,
    reconcilerIntervalSeconds: options.reconcilerIntervalSeconds ?? 60,
    stripeTimeoutMs: options.stripeTimeoutMs,
  });
  const worker = new ChildService({
    name: 'worker',
    script: 'src/worker.ts',
    env,
    readyMessage: 'Reconciler schedule ready',
  });
  const api = new ChildService({
    name: 'api',
    script: 'src/api/main.ts',
    env,
    readyMessage: 'API ready',
  });
  teardown.add(() => Promise.all([api.kill('SIGTERM'), worker.kill('SIGTERM')]));
  // The worker migrates the database; the API expects the tables.
  await worker.start();
  await api.start();

  const database = connect(postgresServer.url);
  teardown.add(() => database.close());
  const stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: sandbox.url });
  const connection = await Connection.connect({ address: temporal.address });
  teardown.add(() => connection.close());
  const client = new Client({ connection });

  return {
    worker,
    api,
    postgres: postgresServer,
    sandbox,
    database,
    stripe,
    workflows: createMerchantWorkflows(client, TASK_QUEUE),
    taskQueue: TASK_QUEUE,
    sources: { database, stripe },
    call: (method, url, key, body) => callHttp(apiUrl, method, url, key, body),
    temporal,
    reconcile: (merchantIds) => runReconciler(client, TASK_QUEUE, merchantIds),
    stop: () => teardown.run(),
  };
}
