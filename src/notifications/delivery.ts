/**
 * Delivers one notification to the merchant's endpoint: at least once, signed, with one
 * row per attempt so that operators and merchants can see what their server answered.
 * Retrying is Temporal's job: a failed attempt throws, and the next one calls this again.
 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { NotificationOutcome, NotificationRequest } from '../activities/contract';
import type { Database } from '../db/client';
import { notificationAttempts, notifications } from '../db/schema';
import { findWebhookEndpoint } from './endpoints';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signNotification } from './signing';
import { refusedAtDelivery } from './url-policy';

/** How long the merchant's server has to answer one delivery. */
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface DeliveryDeps {
  readonly db: Database;
  /** Deliver to loopback and private addresses too (a laptop running everything). */
  readonly allowPrivateUrls?: boolean;
  /** Milliseconds since the epoch; replaced in tests that need another "now". */
  readonly now?: () => number;
}

/** The JSON body merchants receive; `id` is the same on every retry of the event. */
export interface NotificationBody {
  readonly id: string;
  readonly type: NotificationRequest['type'];
  readonly createdAt: string;
  readonly merchantId: string;
  readonly data: NotificationRequest['data'];
}

/**
 * Thrown when the merchant's server did not answer 2xx (or did not answer at all). An
 * ordinary error on purpose: Temporal retries it with backoff.
 */
export class NotificationDeliveryError extends Error {
  override readonly name = 'NotificationDeliveryError';
  constructor(
    readonly notificationId: string,
    readonly attempt: number,
    /** Null when no answer came (refused, reset, timed out). */
    readonly statusCode: number | null,
    options?: ErrorOptions,
  ) {
    const answer = statusCode === null ? 'no answer' : `HTTP ${statusCode}`;
    super(`Notification ${notificationId} attempt ${attempt} failed: ${answer}`, options);
  }
}

interface AttemptResult {
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  readonly cause?: unknown;
}

/** The body POSTed for a request, and stored as the notification's payload. */
export function notificationBody(request: NotificationRequest): NotificationBody {
  const { notificationId: id, type, createdAt, merchantId, data } = request;
  return { id, type, createdAt, merchantId, data };
}

/** fetch() reports network failures as "fetch failed" with the reason in `cause`. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return `${error.message}: ${code}`;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      // A redirect is not a delivery: the merchant fixes the URL instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    // Only the status matters; cancelling the body frees the connection at once.
    await response.body?.cancel();
    return { statusCode: response.status, error: null, durationMs: elapsed() };
  } catch (error) {
    return { statusCode: null, error: describeFailure(error), durationMs: elapsed(), cause: error };
  }
}

/** True when an earlier attempt (of this activity or of a previous run) already delivered. */
async function storeNotification(db: Database, body: NotificationBody): Promise<boolean> {
  await db
    .insert(notifications)
    .values({ id: body.id, merchantId: body.merchantId, type: body.type, payload: body })
    .onConflictDoNothing({ target: notifications.id });
  const [row] = await db
    .select({ deliveredAt: notifications.deliveredAt })
    .from(notifications)
    .where(eq(notifications.id, body.id));
  return row?.deliveredAt != null;
}

async function recordAttempt(
  db: Database,
  notificationId: string,
  attempt: number,
  url: string,
  result: AttemptResult,
): Promise<void> {
  const { statusCode, error, durationMs } = result;
  await db
    .insert(notificationAttempts)
    .values({ notificationId, attempt, url, statusCode, error, durationMs })
    .onConflictDoNothing();
}

async function markDelivered(db: Database, notificationId: string): Promise<void> {
  await db
    .update(notifications)
    .set({ deliveredAt: sql`now()` })
    .where(and(eq(notifications.id, notificationId), isNull(notifications.deliveredAt)));
}

/**
 * Refuses a destination inside our network, with an attempt row saying why, and without a
 * retry: the merchant has to change the URL. A failed name lookup is retried like any
 * delivery that got no answer.
 */
async function checkDestination(
  deps: DeliveryDeps,
  notificationId: string,
  attempt: number,
  url: string,
): Promise<NotificationOutcome | null> {
  if (deps.allowPrivateUrls === true) return null;
  const started = performance.now();
  let reason: string | null;
  try {
    reason = await refusedAtDelivery(new URL(url));
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    const failure = { statusCode: null, error: describeFailure(error), durationMs };
    await recordAttempt(deps.db, notificationId, attempt, url, failure);
    throw new NotificationDeliveryError(notificationId, attempt, null, { cause: error });
  }
  if (reason === null) return null;
  const refused = { statusCode: null, error: `refused: ${reason}`, durationMs: 0 };
  await recordAttempt(deps.db, notificationId, attempt, url, refused);
  return { delivered: false, reason: 'refused_url' };
}

/**
 * Stores the notification (once, whatever the number of attempts) and POSTs it to the
 * merchant's endpoint. `attempt` is Temporal's attempt number, recorded with the answer.
 *
 * @throws NotificationDeliveryError when the endpoint answers anything but 2xx, or nothing.
 */
export async function deliverNotification(
  deps: DeliveryDeps,
  request: NotificationRequest,
  attempt: number,
): Promise<NotificationOutcome> {
  const body = notificationBody(request);
  if (await storeNotification(deps.db, body)) return { delivered: true };

  const endpoint = await findWebhookEndpoint(deps.db, request.merchantId);
  if (endpoint === null) return { delivered: false, reason: 'no_endpoint' };

  const refusal = await checkDestination(deps, body.id, attempt, endpoint.url);
  if (refusal !== null) return refusal;

  const json = JSON.stringify(body);
  const timestampSec = Math.floor((deps.now ?? Date.now)() / 1000);
  const result = await post(endpoint.url, json, {
    [SIGNATURE_HEADER]: signNotification(json, endpoint.secret, timestampSec),
    [EVENT_ID_HEADER]: body.id,
  });
  await recordAttempt(deps.db, body.id, attempt, endpoint.url, result);

  const { statusCode } = result;
  if (statusCode === null || statusCode < 200 || statusCode >= 300) {
    throw new NotificationDeliveryError(body.id, attempt, statusCode, { cause: result.cause });
  }
  await markDelivered(deps.db, body.id);
  return { delivered: true };
}
