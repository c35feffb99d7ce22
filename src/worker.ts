/**
 * The Temporal worker process: runs the merchant workflows and their activities.
 * Stops gracefully on SIGINT or SIGTERM: it finishes the activities in progress (up to the
 * shutdown grace time), then closes its connections.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { type AppConfig, loadConfig } from './config';
import { connect } from './db/client';
import { migrateDatabase } from './db/migrate';
import { createLedger } from './ledger';
import { logger } from './logger';
import { createStripeClient } from './stripe/client';
import { installTemporalRuntime } from './temporal/runtime';

export interface WorkerOptions {
  readonly config: AppConfig;
  /** Prebuilt workflow bundle; when absent the worker bundles src/workflows itself. */
  readonly workflowBundle?: { code: string };
  readonly maxCachedWorkflows?: number;
}

/** Builds a worker and the resources it owns; `close()` releases them after `run()`. */
export async function createAutoReloadWorker(options: WorkerOptions) {
  const { config } = options;
  installTemporalRuntime();
  const database = connect(config.databaseUrl);
  const stripe = createStripeClient(config.stripe);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const activities = createActivities({
    db: database.db,
    stripe,
    ledger: createLedger(database),
  });
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
    await database.close();
  };
  return { worker, close };
}

async function main(): Promise<void> {
  const config = loadConfig();
  await migrateDatabase(config.databaseUrl);
  const { worker, close } = await createAutoReloadWorker({ config });
  logger.info(
    { temporalAddress: config.temporalAddress, taskQueue: config.taskQueue },
    'Worker ready',
  );
  try {
    await worker.run();
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
