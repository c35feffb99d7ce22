import type { ApiResponse } from './handler';
import type { FaultStore } from './faults';
import type { RequestLog } from './request-log';
import type { WebhookEndpoint } from './webhooks';
import { errorBody } from './errors';
import { ControlError, parseFaultSpec } from './faults';

/** What the `/_sandbox/...` control API acts on. */
export interface ControlContext {
  readonly faults: FaultStore;
  readonly requestLog: RequestLog;
  /** Forgets every object, key, fault and logged request. */
  reset(): void;
  webhookEndpoint(): WebhookEndpoint | undefined;
  setWebhookEndpoint(endpoint: WebhookEndpoint | undefined): void;
}

type ControlHandler = (context: ControlContext, body: unknown) => ApiResponse;

function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ControlError('The body must be JSON');
  }
}

function parseWebhookEndpoint(body: unknown): WebhookEndpoint {
  const { url, secret } = (typeof body === 'object' && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) {
    throw new ControlError('url must be an http or https URL');
  }
  if (typeof secret !== 'string' || secret === '') throw new ControlError('secret is required');
  return { url, secret };
}

const ROUTES: Readonly<Record<string, ControlHandler>> = {
  'POST /_sandbox/faults': (context, body) => ({
    status: 201,
    body: context.faults.add(parseFaultSpec(body)),
  }),
  'GET /_sandbox/faults': (context) => ({ status: 200, body: context.faults.list() }),
  'DELETE /_sandbox/faults': (context) => {
    context.faults.clear();
    return { status: 200, body: { cleared: true } };
  },
  'POST /_sandbox/reset': (context) => {
    context.reset();
    return { status: 200, body: { reset: true } };
  },
  'GET /_sandbox/requests': (context) => ({ status: 200, body: context.requestLog.list() }),
  'GET /_sandbox/webhook-endpoint': (context) => ({
    status: 200,
    body: { url: context.webhookEndpoint()?.url ?? null },
  }),
  'POST /_sandbox/webhook-endpoint': (context, body) => {
    const endpoint = parseWebhookEndpoint(body);
    context.setWebhookEndpoint(endpoint);
    return { status: 200, body: { url: endpoint.url } };
  },
  'DELETE /_sandbox/webhook-endpoint': (context) => {
    context.setWebhookEndpoint(undefined);
    return { status: 200, body: { url: null } };
  },
};

/** Serves `/_sandbox/...`: JSON in and out, no authentication, never faulted or logged. */
export function serveControlRequest(
  context: ControlContext,
  method: string,
  path: string,
  body: string,
): ApiResponse {
  const handler = ROUTES[`${method} ${path}`];
  if (!handler) {
    const message = `Unknown sandbox control request: ${method} ${path}`;
    return { status: 404, body: errorBody({ type: 'invalid_request_error', message }) };
  }
  try {
    return handler(context, parseJson(body));
  } catch (error) {
    if (!(error instanceof ControlError)) throw error;
    return {
      status: 400,
      body: errorBody({ type: 'invalid_request_error', message: error.message }),
    };
  }
}
