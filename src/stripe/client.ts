import Stripe from 'stripe';

/** The Stripe API version we are written against; pinned so upgrades are deliberate. */
export const STRIPE_API_VERSION = '2026-11-18.endive';

export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:12111';
export const SANDBOX_SECRET_KEY = 'sk_test_sandbox';
const DEFAULT_STRIPE_TIMEOUT_MS = 20_000;

export interface StripeConfig {
  readonly secretKey: string;
  /** Talk to this server (the sandbox) instead of api.stripe.com. */
  readonly apiUrl?: string;
  readonly timeoutMs?: number;
  readonly maxNetworkRetries?: number;
}

/**
 * STRIPE_SECRET_KEY alone means real Stripe; with STRIPE_API_URL, that server. With
 * neither, the local sandbox on its default port.
 */
export function stripeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): StripeConfig {
  const secretKey = env.STRIPE_SECRET_KEY;
  const timeout = stripeTimeoutMs(env);
  if (secretKey && !env.STRIPE_API_URL) return { secretKey, ...timeout };
  return {
    secretKey: secretKey ?? SANDBOX_SECRET_KEY,
    apiUrl: env.STRIPE_API_URL ?? DEFAULT_SANDBOX_URL,
    ...timeout,
  };
}

/** STRIPE_TIMEOUT_MS: how long one request waits for Stripe's answer; 20 s when unset. */
function stripeTimeoutMs(env: NodeJS.ProcessEnv): { timeoutMs?: number } {
  const raw = env.STRIPE_TIMEOUT_MS;
  if (raw === undefined || raw === '') return {};
  const timeoutMs = Number(raw);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new Error(`STRIPE_TIMEOUT_MS must be a positive whole number, got "${raw}"`);
  }
  return { timeoutMs };
}

/** The official client, pointed at real Stripe or at the sandbox. */
export function createStripeClient(config: StripeConfig): Stripe {
  const options: Stripe.StripeConfig = {
    apiVersion: STRIPE_API_VERSION,
    timeout: config.timeoutMs ?? DEFAULT_STRIPE_TIMEOUT_MS,
    maxNetworkRetries: config.maxNetworkRetries ?? 2,
    telemetry: false,
  };
  if (config.apiUrl) {
    const url = new URL(config.apiUrl);
    options.host = url.hostname;
    options.port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    options.protocol = url.protocol === 'https:' ? 'https' : 'http';
  }
  return new Stripe(config.secretKey, options);
}
