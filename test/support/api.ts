/**
 * The REST API over a test system (real Postgres, Temporal dev server, Stripe sandbox and
 * worker), driven in process with `inject()`. Call `stop()` in `after`.
 */
import type { LightMyRequestResponse } from 'fastify';
import { type ApiApp, buildApp } from '../../src/api/app';
import { createCurrencyCache } from '../../src/api/deps';
import { createMetrics } from '../../src/api/metrics';
import { type ApiConfig, loadConfig } from '../../src/config';
import type { DatabaseHandle } from '../../src/db/client';
import type { Engine } from '../../src/engine';
import { type Logger, logger } from '../../src/logger';
import { startTestSystem, type TestSystem } from './system';

export const ADMIN_KEY = 'adm_test_admin_key';
export const PIPELINE_KEY = 'pip_test_pipeline_key';
export const WEBHOOK_SECRET = 'whsec_test_webhook_secret';

export interface TestApi {
  readonly system: TestSystem;
  readonly app: ApiApp;
  /** The same app listening on a free port, its `call` going through real HTTP. */
  listening(): Promise<TestApi>;
  /** Sends a request with a Bearer key (none when `key` is null); JSON in and out. */
  call(method: string, url: string, key: string | null, body?: unknown): Promise<ApiAnswer>;
  stop(): Promise<void>;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: LightMyRequestResponse['headers'];
}

export function testApiConfig(overrides: Partial<ApiConfig> = {}): ApiConfig {
  return {
    ...loadConfig({}).api,
    adminApiKey: ADMIN_KEY,
    pipelineApiKey: PIPELINE_KEY,
    stripeWebhookSecret: WEBHOOK_SECRET,
    ...overrides,
  };
}

export interface TestAppOptions {
  readonly config?: Partial<ApiConfig>;
  readonly log?: Logger;
  /** Another database than the system's, to see the API meet a broken one. */
  readonly database?: DatabaseHandle;
  /** Another engine than the system's (one whose workflows no worker runs, say). */
  readonly engine?: Engine;
}

/** An app over an existing test system, with its own settings; close it yourself. */
export async function buildTestApp(
  system: TestSystem,
  options: TestAppOptions = {},
): Promise<ApiApp> {
  const database = options.database ?? system.database;
  return buildApp({
    engine: options.engine ?? system,
    database,
    stripe: system.stripe,
    temporal: system.env.client,
    config: testApiConfig(options.config),
    log: options.log ?? logger,
    metrics: createMetrics(database.db),
    currencies: createCurrencyCache(database),
  });
}

/** Sends a request with a Bearer key (none when `key` is null); JSON in and out. */
export async function callApp(
  app: ApiApp,
  method: string,
  url: string,
  key: string | null,
  body?: unknown,
): Promise<ApiAnswer> {
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers: key === null ? {} : { authorization: `Bearer ${key}` },
    ...(body !== undefined && { payload: body as object }),
  });
  const isJson = response.headers['content-type']?.toString().includes('json');
  return {
    status: response.statusCode,
    body: isJson ? response.json() : response.body,
    headers: response.headers,
  };
}

/** Like callApp, through real HTTP to a listening server. */
export async function callHttp(
  baseUrl: string,
  method: string,
  url: string,
  key: string | null,
  body?: unknown,
): Promise<ApiAnswer> {
  const response = await fetch(`${baseUrl}${url}`, {
    method,
    headers: {
      ...(key !== null && { authorization: `Bearer ${key}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.includes('json') ?? false;
  return {
    status: response.status,
    body: isJson ? (JSON.parse(text) as unknown) : text,
    headers: Object.fromEntries(response.headers),
  };
}

export async function startTestApi(
  name: string,
  overrides: Partial<ApiConfig> = {},
): Promise<TestApi> {
  const system = await startTestSystem(name);
  const app = await buildTestApp(system, { config: overrides });
  let address: string | undefined;
  const api: TestApi = {
    system,
    app,
    async listening() {
      address ??= await app.listen({ host: '127.0.0.1', port: 0 });
      const baseUrl = address;
      return {
        ...api,
        call: (method, url, key, body) => callHttp(baseUrl, method, url, key, body),
      };
    },
    call: (method, url, key, body) => callApp(app, method, url, key, body),
    async stop() {
      await app.close();
      await system.stop();
    },
  };
  return api;
}
