import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type Stripe from 'stripe';
import { unixSeconds } from './ids';

/** Where events go, and the secret (`whsec_...`) they are signed with. */
export interface WebhookEndpoint {
  readonly url: string;
  readonly secret: string;
}

/**
 * The `Stripe-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload">`,
 * which `stripe.webhooks.constructEvent` checks against the exact payload bytes.
 */
export function signatureHeader(payload: string, secret: string, timestamp: number): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

export interface WebhookSender {
  /** Queues the event; delivery never delays the API answer that caused it. */
  send(endpoint: WebhookEndpoint, event: Stripe.Event): void;
  /** Drops queued retries (on reset); deliveries already on the wire finish. */
  cancelPending(): void;
  /** Drops queued retries and aborts deliveries on the wire. */
  stop(): void;
}

export interface WebhookSenderOptions {
  /** Waits before each retry; the length is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  readonly timeoutMs: number;
  readonly logger: Logger;
}

// A fresh connection per delivery (agent: false), so no pooled socket outlives `stop`.
function post(
  url: URL,
  payload: string,
  headers: http.OutgoingHttpHeaders,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<number> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const options = { method: 'POST', headers, agent: false, signal, timeout: timeoutMs };
    const request = transport.request(url, options, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error(`No answer in ${timeoutMs} ms`)));
    request.once('error', reject);
    request.end(payload);
  });
}

/** Sends signed events, retrying with the given backoff on errors and non-2xx answers. */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { retryDelaysMs, timeoutMs, logger } = options;
  const timers = new Set<NodeJS.Timeout>();
  const abort = new AbortController();

  function schedule(delayMs: number, task: () => Promise<void>): void {
    if (abort.signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      task().catch((error: unknown) => logger.error({ err: error }, 'Webhook task failed'));
    }, delayMs);
    timers.add(timer);
  }

  // Each attempt is signed afresh, as Stripe does, so its timestamp stays within tolerance.
  async function deliver(
    endpoint: WebhookEndpoint,
    event: Stripe.Event,
    payload: string,
    attempt: number,
  ): Promise<void> {
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'stripe-signature': signatureHeader(payload, endpoint.secret, unixSeconds()),
    };
    const context = { eventId: event.id, type: event.type, url: endpoint.url, attempt };
    const status = await post(
      new URL(endpoint.url),
      payload,
      headers,
      abort.signal,
      timeoutMs,
    ).catch((error: unknown) => {
      logger.info({ ...context, err: error }, 'Webhook delivery failed');
      return 0;
    });
    if (status >= 200 && status < 300) return;
    const delayMs = retryDelaysMs[attempt - 1];
    if (delayMs === undefined) {
      logger.warn({ ...context, status }, 'Webhook delivery abandoned');
      return;
    }
    schedule(delayMs, () => deliver(endpoint, event, payload, attempt + 1));
  }

  function cancelPending(): void {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  }

  return {
    send(endpoint, event) {
      const payload = JSON.stringify(event, null, 2);
      schedule(0, () => deliver(endpoint, event, payload, 1));
    },
    cancelPending,
    stop() {
      cancelPending();
      abort.abort();
    },
  };
}
