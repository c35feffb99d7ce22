import Stripe from 'stripe';

/** The Stripe API version we are written against; pinned so upgrades are deliberate. */
export const STRIPE_API_VERSION = '2026-11-18.endive';

export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:12111';
export const SANDBOX_SECRET_KEY = 'sk_test_sandbox';

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
  if (secretKey && !env.STRIPE_API_URL) return { secretKey };
  return {
    secretKey: secretKey ?? SANDBOX_SECRET_KEY,
    apiUrl: env.STRIPE_API_URL ?? DEFAULT_SANDBOX_URL,
  };
}

/** The official client, pointed at real Stripe or at the sandbox. */
export function createStripeClient(config: StripeConfig): Stripe {
  const options: Stripe.StripeConfig = {
    apiVersion: STRIPE_API_VERSION,
    timeout: config.timeoutMs ?? 20_000,
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
