/**
 * The Temporal worker process: runs the merchant workflows, the reconciler and their
 * activities, and makes sure the reconciler's schedule exists.
 * Stops gracefully on SIGINT or SIGTERM: it finishes the activities in progress (up to the
 * shutdown grace time), then closes its connections.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { type AppConfig, loadConfig } from './config';
import { connect } from './db/client';
import { migrateDatabase } from './db/migrate';
import { createLedger } from './ledger';
import { logger } from './logger';
import { createMerchantWorkflows } from './merchants/workflow-client';
import { createReconcilerActivities } from './reconciler/activities';
import { ensureReconcilerSchedule } from './reconciler/schedule';
import { createStripeClient } from './stripe/client';
import { installTemporalRuntime } from './temporal/runtime';

export interface WorkerOptions {
  readonly config: AppConfig;
  /** Prebuilt workflow bundle; when absent the worker bundles src/workflows itself. */
  readonly workflowBundle?: { code: string };
  readonly maxCachedWorkflows?: number;
}

/**
 * Builds a worker and the resources it owns; `close()` releases them after `run()`. The
 * `client` is the one the reconciler signals through; callers use it for the schedule.
 */
export async function createAutoReloadWorker(options: WorkerOptions) {
  const { config } = options;
  installTemporalRuntime();
  const database = connect(config.databaseUrl);
  const stripe = createStripeClient(config.stripe);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const clientConnection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection: clientConnection, namespace: config.temporalNamespace });
  const activities = {
    ...createActivities({
      db: database.db,
      stripe,
      ledger: createLedger(database),
      allowPrivateNotificationUrls: config.api.allowPrivateWebhookUrls,
      softDeclineRetryDelaysMs: config.softDeclineRetryDelaysMs,
    }),
    ...createReconcilerActivities({
      db: database.db,
      workflows: createMerchantWorkflows(client, config.taskQueue),
    }),
  };
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('./workflows') }),
    activities,
    // About 600 cached workflows fit in a GB; merchants beyond this are replayed on demand.
    maxCachedWorkflows: options.maxCachedWorkflows ?? 2_000,
    shutdownGraceTime: '10s',
  });
  const close = async (): Promise<void> => {
    await connection.close();
    await clientConnection.close();
    await database.close();
  };
  return { worker, client, close };
}

/**
 * WORKFLOW_BUNDLE_PATH: workflow code bundled beforehand (bundleWorkflowCode), which spares
 * each start the seconds of bundling; a worker restarted after a crash is back sooner.
 */
function prebuiltBundle(env: NodeJS.ProcessEnv): { code: string } | undefined {
  const bundlePath = env.WORKFLOW_BUNDLE_PATH;
  return bundlePath ? { code: readFileSync(bundlePath, 'utf8') } : undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  await migrateDatabase(config.databaseUrl);
  const workflowBundle = prebuiltBundle(process.env);
  const { worker, client, close } = await createAutoReloadWorker({
    config,
    ...(workflowBundle && { workflowBundle }),
  });
  logger.info(
    { temporalAddress: config.temporalAddress, taskQueue: config.taskQueue },
    'Worker ready',
  );
  const running = worker.run();
  // Awaited below; this keeps a worker failure during the schedule call from being unhandled.
  running.catch(() => undefined);
  try {
    const schedule = await ensureReconcilerSchedule(client, config.taskQueue, {
      intervalSeconds: config.reconcilerIntervalSeconds,
    });
    logger.info(schedule, 'Reconciler schedule ready');
  } catch (error) {
    // Without the schedule a lost signal strands a merchant: stop rather than run without it.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await close();
    throw error;
  }
  try {
    await running;
  } finally {
    await close();
    logger.info('Worker stopped');
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    logger.fatal({ err: error }, 'Worker failed');
    process.exitCode = 1;
  });
}
