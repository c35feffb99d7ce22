/**
 * `npm run api`: the REST API alone, for a deployment that runs it apart from the worker.
 * Reads everything from the environment (src/config.ts); ADMIN_API_KEY and
 * PIPELINE_API_KEY must be set, since nobody could call it without them. It does not run
 * migrations: the worker does, and a deployment runs `npm run migrate` before either.
 * Stops on SIGINT or SIGTERM after the requests in progress are answered.
 */
import { loadConfig } from '../config';
import { logger } from '../logger';
import { startApi } from './server';

const REQUIRED_KEYS = ['ADMIN_API_KEY', 'PIPELINE_API_KEY'] as const;

async function main(): Promise<void> {
  const missing = REQUIRED_KEYS.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    process.stderr.write(`API not started: set ${missing.join(' and ')}\n`);
    process.exitCode = 1;
    return;
  }
  const api = await startApi({ config: loadConfig() });
  logger.info({ url: api.url }, 'API ready');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API stopping');
    api.close().then(
      () => logger.info('API stopped'),
      (error: unknown) => {
        logger.error({ err: error }, 'API did not stop cleanly');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'API failed to start');
  process.exitCode = 1;
});
