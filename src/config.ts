import { DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS } from './domain/dunning';
import { databaseUrl } from './db/client';
import { type StripeConfig, stripeConfigFromEnv } from './stripe/client';

/** Requests per minute each kind of key may make before answers turn to 429. */
export interface RateLimits {
  readonly admin: number;
  readonly pipeline: number;
  readonly merchant: number;
  /** Per client address, for requests without a valid key (and Stripe's webhooks). */
  readonly anonymous: number;
}

export interface ApiConfig {
  readonly host: string;
  readonly port: number;
  /** Unset keys disable their kind of caller; `npm start` generates both when unset. */
  readonly adminApiKey: string | undefined;
  readonly pipelineApiKey: string | undefined;
  /** Secret (`whsec_...`) that Stripe signs webhook events with. */
  readonly stripeWebhookSecret: string | undefined;
  readonly rateLimits: RateLimits;
  /** Largest request body accepted; a 1000-event usage batch is about 110 KB. */
  readonly bodyLimitBytes: number;
  /**
   * How long a request waits for a merchant's workflow (a settings Update) before it
   * answers 503: with the worker down, an Update would otherwise wait without end.
   */
  readonly workflowAnswerTimeoutMs: number;
  /** Lets merchants register webhook URLs on loopback or private addresses (local use). */
  readonly allowPrivateWebhookUrls: boolean;
}

/** Process settings, read once from the environment with local defaults. */
export interface AppConfig {
  readonly databaseUrl: string;
  readonly temporalAddress: string;
  readonly temporalNamespace: string;
  readonly taskQueue: string;
  readonly stripe: StripeConfig;
  readonly api: ApiConfig;
  /** How often the reconciler schedule looks for merchants a lost signal left waiting. */
  readonly reconcilerIntervalSeconds: number;
  /** Waits before each new attempt after a soft decline (SPEC 3.6); its length is the count. */
  readonly softDeclineRetryDelaysMs: readonly number[];
}

export const DEFAULT_TASK_QUEUE = 'auto-reload';
export const DEFAULT_API_PORT = 3000;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

/**
 * SOFT_DECLINE_RETRY_DELAYS_SECONDS=3600,21600,86400: the wait before each new attempt
 * after a soft decline, in seconds. Empty means no retries: a soft decline then fails at once.
 */
function softDeclineRetryDelaysMs(env: NodeJS.ProcessEnv): readonly number[] {
  const raw = env.SOFT_DECLINE_RETRY_DELAYS_SECONDS;
  if (raw === undefined) return DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS;
  if (raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const seconds = Number(part.trim());
    if (!Number.isSafeInteger(seconds) || seconds <= 0) {
      throw new Error(
        `SOFT_DECLINE_RETRY_DELAYS_SECONDS must list positive whole seconds separated by commas, got "${raw}"`,
      );
    }
    return seconds * 1000;
  });
}

/** ALLOW_PRIVATE_WEBHOOK_URLS=true; off unless said, since it opens our network to merchants. */
export function allowPrivateWebhookUrls(env: NodeJS.ProcessEnv): boolean {
  const raw = env.ALLOW_PRIVATE_WEBHOOK_URLS;
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new Error(`ALLOW_PRIVATE_WEBHOOK_URLS must be true or false, got "${raw}"`);
}

function loadApiConfig(env: NodeJS.ProcessEnv): ApiConfig {
  return {
    host: env.API_HOST ?? '127.0.0.1',
    port: positiveInteger(env, 'API_PORT', DEFAULT_API_PORT),
    adminApiKey: env.ADMIN_API_KEY || undefined,
    pipelineApiKey: env.PIPELINE_API_KEY || undefined,
    stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET || undefined,
    rateLimits: {
      admin: positiveInteger(env, 'RATE_LIMIT_ADMIN_PER_MINUTE', 6_000),
      pipeline: positiveInteger(env, 'RATE_LIMIT_PIPELINE_PER_MINUTE', 600_000),
      merchant: positiveInteger(env, 'RATE_LIMIT_MERCHANT_PER_MINUTE', 600),
      anonymous: positiveInteger(env, 'RATE_LIMIT_ANONYMOUS_PER_MINUTE', 600),
    },
    bodyLimitBytes: positiveInteger(env, 'API_BODY_LIMIT_BYTES', 256 * 1024),
    workflowAnswerTimeoutMs: positiveInteger(env, 'WORKFLOW_ANSWER_TIMEOUT_MS', 10_000),
    allowPrivateWebhookUrls: allowPrivateWebhookUrls(env),
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    databaseUrl: databaseUrl(env),
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    stripe: stripeConfigFromEnv(env),
    api: loadApiConfig(env),
    reconcilerIntervalSeconds: positiveInteger(env, 'RECONCILER_INTERVAL_SECONDS', 60),
    softDeclineRetryDelaysMs: softDeclineRetryDelaysMs(env),
  };
}
