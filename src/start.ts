/**
 * `npm start`: the whole local system on embedded defaults. Starts the Temporal dev server
 * with its Web UI (data kept in .data/), the Stripe sandbox, migrations and the worker,
 * prints one line per part when it is ready, and stops everything on Ctrl-C.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from './config';
import { migrateDatabase } from './db/migrate';
import { logger } from './logger';
import { startSandbox } from './sandbox/server';
import { startDevServer } from './temporal/dev-server';
import { createAutoReloadWorker } from './worker';

const DATA_DIR = path.resolve(__dirname, '..', '.data');
type Stop = () => Promise<void>;

async function startTemporal(stops: Stop[]): Promise<string> {
  if (process.env.TEMPORAL_ADDRESS) {
    logger.info({ address: process.env.TEMPORAL_ADDRESS }, 'Using the configured Temporal server');
    return process.env.TEMPORAL_ADDRESS;
  }
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startDevServer({
    port: 7233,
    uiPort: 8233,
    dbFilename: path.join(DATA_DIR, 'temporal.db'),
  });
  stops.push(() => server.stop());
  logger.info(
    { address: server.address, webUi: 'http://127.0.0.1:8233' },
    'Temporal dev server ready',
  );
  return server.address;
}

async function startStripe(stops: Stop[]): Promise<string | undefined> {
  if (process.env.STRIPE_API_URL || process.env.STRIPE_SECRET_KEY) return undefined;
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 12111 });
  stops.push(() => sandbox.stop());
  logger.info({ url: sandbox.url }, 'Stripe sandbox ready');
  return sandbox.url;
}

async function main(): Promise<void> {
  const stops: Stop[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const temporalAddress = await startTemporal(stops);
    const sandboxUrl = await startStripe(stops);
    const config = loadConfig({
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      ...(sandboxUrl ? { STRIPE_API_URL: sandboxUrl } : {}),
    });
    await migrateDatabase(config.databaseUrl);
    logger.info({ database: new URL(config.databaseUrl).pathname.slice(1) }, 'Postgres ready');

    const { worker, close } = await createAutoReloadWorker({ config });
    stops.push(close);
    logger.info({ taskQueue: config.taskQueue }, 'Worker ready; press Ctrl-C to stop');
    await worker.run();
  } finally {
    await stopAll();
    logger.info('Stopped');
  }
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'Start failed');
  process.exitCode = 1;
});
