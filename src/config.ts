import { databaseUrl } from './db/client';
import { type StripeConfig, stripeConfigFromEnv } from './stripe/client';

/** Process settings, read once from the environment with local defaults. */
export interface AppConfig {
  readonly databaseUrl: string;
  readonly temporalAddress: string;
  readonly temporalNamespace: string;
  readonly taskQueue: string;
  readonly stripe: StripeConfig;
}

export const DEFAULT_TASK_QUEUE = 'auto-reload';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    databaseUrl: databaseUrl(env),
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    stripe: stripeConfigFromEnv(env),
  };
}
