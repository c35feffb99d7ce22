/**
 * Where a merchant receives notifications (SPEC 3.8, `PUT /v1/merchants/{id}/webhook-endpoint`)
 * and the secret that signs them. The REST layer validates the URL before calling this.
 */
import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { webhookEndpoints } from '../db/schema';
import { MerchantNotFoundError } from '../ledger/errors';

/** A merchant's endpoint as the merchant reads it back: the secret is theirs to keep. */
export interface WebhookEndpoint {
  readonly url: string;
  readonly secret: string;
}

const FOREIGN_KEY_VIOLATION = '23503';

/** A new signing secret: `whsec_` and 32 random bytes in hex. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}

/** The Postgres error under Drizzle's wrapper (DrizzleQueryError keeps it as `cause`). */
function driverError(error: unknown): unknown {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause ?? error;
}

function isForeignKeyViolation(error: unknown): boolean {
  return (driverError(error) as { code?: unknown } | undefined)?.code === FOREIGN_KEY_VIOLATION;
}

/**
 * Saves the merchant's endpoint URL. The first save makes the secret; later saves change
 * the URL and keep the secret, which is answered again so that the merchant never has to
 * re-configure their verifier. One statement, so concurrent saves cannot make two secrets.
 *
 * @throws MerchantNotFoundError when the merchant does not exist.
 */
export async function saveWebhookEndpoint(
  db: Database,
  merchantId: string,
  url: string,
): Promise<WebhookEndpoint> {
  try {
    const [row] = await db
      .insert(webhookEndpoints)
      .values({ merchantId, url, secret: newSecret() })
      .onConflictDoUpdate({
        target: webhookEndpoints.merchantId,
        set: { url, updatedAt: sql`now()` },
      })
      .returning({ url: webhookEndpoints.url, secret: webhookEndpoints.secret });
    if (!row) throw new Error(`Saving the webhook endpoint of ${merchantId} returned no row`);
    return row;
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new MerchantNotFoundError(merchantId);
    // Drizzle's message lists the statement's parameters, the new secret among them: keep
    // only the driver's error, whose parameters are not enumerable and so never logged.
    throw new Error(`Saving the webhook endpoint of ${merchantId} failed`, {
      cause: driverError(error),
    });
  }
}

/** The merchant's endpoint, or null when none was saved (notifications are then dropped). */
export async function findWebhookEndpoint(
  db: Database,
  merchantId: string,
): Promise<WebhookEndpoint | null> {
  const [row] = await db
    .select({ url: webhookEndpoints.url, secret: webhookEndpoints.secret })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.merchantId, merchantId));
  return row ?? null;
}
