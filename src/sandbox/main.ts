/**
 * `npm run sandbox`: the Stripe sandbox on STRIPE_SANDBOX_HOST (127.0.0.1) and
 * STRIPE_SANDBOX_PORT (12111), sending
 * webhooks to SANDBOX_WEBHOOK_URL signed with SANDBOX_WEBHOOK_SECRET when both are set.
 */
import { logger as serviceLogger } from '../logger';
import { DEFAULT_SANDBOX_PORT, startSandbox } from './server';

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_SANDBOX_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`STRIPE_SANDBOX_PORT must be a port number, not ${value}`);
  }
  return port;
}

async function main(): Promise<void> {
  const logger = serviceLogger.child({ component: 'stripe-sandbox' });
  const sandbox = await startSandbox({
    host: process.env.STRIPE_SANDBOX_HOST || '127.0.0.1',
    port: portFromEnv(process.env.STRIPE_SANDBOX_PORT),
    webhookUrl: process.env.SANDBOX_WEBHOOK_URL || undefined,
    webhookSecret: process.env.SANDBOX_WEBHOOK_SECRET || undefined,
    logger,
  });
  const webhooks = process.env.SANDBOX_WEBHOOK_URL ?? 'off';
  process.stdout.write(`Stripe sandbox listening on ${sandbox.url} (webhooks: ${webhooks})\n`);

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'Stripe sandbox stopping');
    sandbox.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'Stripe sandbox did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`Stripe sandbox failed to start: ${String(error)}\n`);
  process.exit(1);
});
