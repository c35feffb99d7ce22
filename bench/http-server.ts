/**
 * The API as the http bench drives it: built like `startApi` (src/api/server.ts), listening
 * on 127.0.0.1 with a free port, but over a lazy Temporal connection, so that no Temporal
 * server is needed as long as no debit owes a signal (the bench's merchants have no Auto
 * Reload settings). Used in process by bench/http.ts, or in a child process started by
 * startBenchApiProcess (this file as its main), which reports its URL over IPC and closes
 * on SIGTERM.
 */
import { fork } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { buildApp } from '../src/api/app';
import { createCurrencyCache } from '../src/api/deps';
import { createMetrics } from '../src/api/metrics';
import { loadConfig } from '../src/config';
import { connect } from '../src/db/client';
import { createEngine } from '../src/engine';
import { logger } from '../src/logger';
import { createStripeClient, DEFAULT_SANDBOX_URL, SANDBOX_SECRET_KEY } from '../src/stripe/client';

/** The pipeline key the bench's API accepts. */
export const BENCH_PIPELINE_KEY = 'pip_bench_pipeline_key';

export interface BenchApiOptions {
  readonly databaseUrl: string;
  /** Connections of the API's Postgres pool (startApi opens 10, connect()'s default). */
  readonly pool: number;
}

export interface BenchApi {
  readonly url: string;
  close(): Promise<void>;
}

/** The API config of `npm start`, with a pipeline rate limit the bench can never reach. */
function benchApiConfig() {
  const api = loadConfig({}).api;
  return {
    ...api,
    host: '127.0.0.1',
    pipelineApiKey: BENCH_PIPELINE_KEY,
    rateLimits: { ...api.rateLimits, pipeline: 1_000_000_000 },
  };
}

/** Builds the app over its own pool and listens on 127.0.0.1, port 0. */
export async function startBenchApi(options: BenchApiOptions): Promise<BenchApi> {
  const database = connect(options.databaseUrl, { max: options.pool });
  // Connects on first use only, and the bench never makes one: no debit crosses a threshold.
  const connection = Connection.lazy({ address: '127.0.0.1:7233' });
  const temporal = new Client({ connection });
  const stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: DEFAULT_SANDBOX_URL });
  const metrics = createMetrics(database.db);
  // Successes log at debug; warn keeps anything unexpected visible without request noise.
  const log = logger.child({}, { level: process.env.BENCH_HTTP_LOG_LEVEL ?? 'warn' });
  const engine = createEngine({ database, stripe, temporal, taskQueue: 'bench-http', log });
  const app = await buildApp({
    engine,
    database,
    stripe,
    temporal,
    config: benchApiConfig(),
    log,
    metrics,
    currencies: createCurrencyCache(database),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await app.close();
      await connection.close();
      await database.close();
    },
  };
}

/**
 * The same API in a child process, so that the load generator's CPU does not compete in
 * its event loop. With `profileDir`, the child writes a --cpu-prof there when it closes.
 */
export async function startBenchApiProcess(
  options: BenchApiOptions & { readonly profileDir?: string },
): Promise<BenchApi> {
  const execArgv = ['--import', 'tsx'];
  if (options.profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  const child = fork(__filename, [], {
    execArgv,
    env: {
      ...process.env,
      BENCH_HTTP_DATABASE_URL: options.databaseUrl,
      BENCH_HTTP_POOL: String(options.pool),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: { url?: unknown }) => resolve(String(message.url)));
    child.once('exit', (code) => reject(new Error(`bench http server exited with ${code}`)));
  });
  return {
    url,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Child mode: serve until SIGTERM or the parent goes, then exit (writing any --cpu-prof). */
async function serveAsChild(): Promise<void> {
  const databaseUrl = process.env.BENCH_HTTP_DATABASE_URL;
  if (!databaseUrl || !process.send) throw new Error('run by bench/http.ts with an IPC channel');
  const api = await startBenchApi({ databaseUrl, pool: Number(process.env.BENCH_HTTP_POOL) });
  const stop = () => {
    api.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  // A bench that died without closing us must not leave a server running.
  process.once('disconnect', stop);
  process.send({ url: api.url });
}

if (require.main === module) {
  serveAsChild().catch((error: unknown) => {
    process.stderr.write(`bench http server failed: ${String(error)}\n`);
    process.exit(1);
  });
}
