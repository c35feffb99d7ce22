import { DefaultLogger, type LogEntry, Runtime } from '@temporalio/worker';
import { logger } from '../logger';

const PINO_LEVEL = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const;

let installed = false;

/**
 * Routes the Temporal SDK's logs (worker, workflows, activities) into our pino log, so an
 * operator reads one JSON stream. TEMPORAL_LOG_LEVEL (default WARN) keeps the SDK's own
 * chatter, such as the bundler's report, out of the way unless asked for.
 */
export function installTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  const sdkLog = logger.child({ component: 'temporal' });
  const level = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN').toUpperCase() as keyof typeof PINO_LEVEL;
  Runtime.install({
    logger: new DefaultLogger(level in PINO_LEVEL ? level : 'WARN', (entry: LogEntry) => {
      sdkLog[PINO_LEVEL[entry.level]](entry.meta ?? {}, entry.message);
    }),
  });
}
