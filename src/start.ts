/**
 * `npm start`: the whole local system on one command (SPEC 6). Starts the Temporal dev
 * server with its Web UI, the Stripe sandbox and the database (Postgres, or embedded PGlite
 * when none answers), then the worker and the API; logs one line per part when it is ready
 * and a summary. Ctrl-C or SIGTERM stops the parts in reverse order: the API first, so
 * requests in progress finish, then the worker, the sandbox, Temporal and the database. A
 * second Ctrl-C stops at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { type RunningApi, startApi } from './api/server';
import { type AppConfig, loadConfig } from './config';
import { type LocalDatabase, openLocalDatabase, urlWithoutPassword } from './db/local-database';
import { logger } from './logger';
import { ensureReconcilerSchedule } from './reconciler/schedule';
import { type RunningSandbox, DEFAULT_SANDBOX_PORT, startSandbox } from './sandbox/server';
import { type RunningDevServer, startDevServer } from './temporal/dev-server';
import { installTemporalRuntime } from './temporal/runtime';
import { createAutoReloadWorker } from './worker';

const PROJECT_ROOT = path.resolve(__dirname, '..');
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** Signals this soon after the first are the same Ctrl-C delivered twice. */
const REPEATED_SIGNAL_GRACE_MS = 1_000;

interface RunningWorker {
  readonly worker: Worker;
  readonly running: Promise<void>;
  readonly close: () => Promise<void>;
}

/** What has started so far; stopped in the reverse of the order they start in. */
interface Parts {
  temporal?: RunningDevServer;
  sandbox?: RunningSandbox;
  database?: LocalDatabase;
  worker?: RunningWorker;
  api?: RunningApi;
}

/** Keys and secret the API needs; made up when the environment has none. */
interface Secrets {
  readonly adminApiKey: string;
  readonly pipelineApiKey: string;
  /** Only the sandbox's is made up: real Stripe's comes from its dashboard or not at all. */
  readonly webhookSecret: string | undefined;
  readonly generated: readonly string[];
}

/** Ports and folders, overridable for tests and for machines where the defaults are busy. */
interface Settings {
  readonly dataDir: string;
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly sandboxPort: number;
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`${name} must be a port number, not "${raw}"`);
  }
  return port;
}

function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  return {
    dataDir: path.resolve(env.DATA_DIR || path.join(PROJECT_ROOT, '.data')),
    temporalPort: portFromEnv(env, 'TEMPORAL_PORT', 7233),
    temporalUiPort: portFromEnv(env, 'TEMPORAL_UI_PORT', 8233),
    sandboxPort: portFromEnv(env, 'STRIPE_SANDBOX_PORT', DEFAULT_SANDBOX_PORT),
  };
}

function randomSecret(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('base64url')}`;
}

function secretsFromEnv(env: NodeJS.ProcessEnv, useSandbox: boolean): Secrets {
  const generated: string[] = [];
  const orMake = (value: string | undefined, prefix: string, label: string): string => {
    if (value) return value;
    const made = randomSecret(prefix);
    generated.push(`${label} (generated): ${made}`);
    return made;
  };
  const sandboxSecret = useSandbox ? randomSecret('whsec_') : undefined;
  return {
    adminApiKey: orMake(env.ADMIN_API_KEY, 'adm_', 'Admin API key'),
    pipelineApiKey: orMake(env.PIPELINE_API_KEY, 'pip_', 'Pipeline API key'),
    // Shared by the sandbox and the API only, so nobody needs to see it.
    webhookSecret: env.STRIPE_WEBHOOK_SECRET || sandboxSecret,
    generated,
  };
}

/** No sandbox when Stripe is configured: real Stripe (test mode) or a server of the user's. */
function wantsSandbox(env: NodeJS.ProcessEnv): boolean {
  return !env.STRIPE_API_URL && !env.STRIPE_SECRET_KEY;
}

/** Where the sandbox reaches the API: a wildcard listen address is reached on loopback. */
function loopbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function webUiUrl(settings: Settings): string {
  return `http://127.0.0.1:${settings.temporalUiPort}`;
}

async function startTemporal(settings: Settings): Promise<RunningDevServer> {
  const server = await startDevServer({
    port: settings.temporalPort,
    uiPort: settings.temporalUiPort,
    dbFilename: path.join(settings.dataDir, 'temporal.db'),
    detached: true,
  });
  // Detached, it would outlive a crash of this process; this covers every exit but SIGKILL.
  process.once('exit', () => server.process.kill('SIGKILL'));
  const webUi = webUiUrl(settings);
  logger.info({ address: server.address, webUi }, 'Temporal dev server ready');
  return server;
}

async function startStripe(settings: Settings, webhookUrl: string, webhookSecret?: string) {
  const sandbox = await startSandbox({
    host: '127.0.0.1',
    port: settings.sandboxPort,
    webhookUrl,
    webhookSecret,
    logger: logger.child({ component: 'stripe-sandbox' }),
  });
  logger.info({ url: sandbox.url, webhookUrl }, 'Stripe sandbox ready');
  return sandbox;
}

async function startDatabase(dataDir: string): Promise<LocalDatabase> {
  const database = await openLocalDatabase({
    embeddedDataDir: path.join(dataDir, 'pglite'),
    log: logger.child({ component: 'embedded-database' }),
  });
  const url = urlWithoutPassword(database.url);
  logger.info({ database: database.kind, url }, 'Database ready');
  return database;
}

async function startWorker(config: AppConfig): Promise<RunningWorker> {
  const { worker, client, close } = await createAutoReloadWorker({ config });
  const running = worker.run();
  logger.info({ taskQueue: config.taskQueue }, 'Worker ready');
  const started = { worker, running, close };
  const intervalSeconds = config.reconcilerIntervalSeconds;
  try {
    const schedule = await ensureReconcilerSchedule(client, config.taskQueue, { intervalSeconds });
    logger.info(schedule, 'Reconciler schedule ready');
  } catch (error) {
    // Not yet in `parts`, so nobody else would stop it.
    await stopWorker(started);
    throw error;
  }
  return started;
}

async function startHttpApi(config: AppConfig): Promise<RunningApi> {
  const api = await startApi({ config });
  logger.info({ url: api.url, docs: `${api.url}/docs` }, 'API ready');
  return api;
}

/** Runs starts side by side; when any fails, the caller still learns what did start. */
async function together(starts: ReadonlyArray<() => Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(starts.map((start) => start()));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

async function startParts(
  parts: Parts,
  settings: Settings,
  secrets: Secrets,
  stopRequested: () => boolean,
): Promise<AppConfig | undefined> {
  mkdirSync(settings.dataDir, { recursive: true });
  const { api } = loadConfig();
  const webhookUrl = `http://${loopbackHost(api.host)}:${api.port}/v1/stripe/webhooks`;
  await together([
    async () => {
      parts.database = await startDatabase(settings.dataDir);
    },
    async () => {
      if (!process.env.TEMPORAL_ADDRESS) parts.temporal = await startTemporal(settings);
    },
    async () => {
      if (!wantsSandbox(process.env)) return;
      parts.sandbox = await startStripe(settings, webhookUrl, secrets.webhookSecret);
    },
  ]);
  if (stopRequested()) return undefined;

  const config = loadConfig({
    ...process.env,
    DATABASE_URL: parts.database?.url,
    TEMPORAL_ADDRESS: parts.temporal?.address ?? process.env.TEMPORAL_ADDRESS,
    ADMIN_API_KEY: secrets.adminApiKey,
    PIPELINE_API_KEY: secrets.pipelineApiKey,
    ...(secrets.webhookSecret ? { STRIPE_WEBHOOK_SECRET: secrets.webhookSecret } : {}),
    ...(parts.sandbox ? { STRIPE_API_URL: parts.sandbox.url } : {}),
    // On one's own machine the merchant is oneself, and a test receiver runs on localhost.
    ALLOW_PRIVATE_WEBHOOK_URLS: process.env.ALLOW_PRIVATE_WEBHOOK_URLS ?? 'true',
  });
  await together([
    async () => {
      parts.worker = await startWorker(config);
    },
    async () => {
      parts.api = await startHttpApi(config);
    },
  ]);
  return config;
}

async function stopWorker(running: RunningWorker): Promise<void> {
  if (running.worker.getState() === 'RUNNING') running.worker.shutdown();
  // A run that failed has been reported already; what matters now is closing.
  await running.running.catch(() => undefined);
  await running.close();
}

/** Stops what started, API first so requests drain, the database last. */
async function stopParts(parts: Parts): Promise<boolean> {
  const { api, worker, sandbox, temporal, database } = parts;
  const steps: Array<[string, (() => Promise<void>) | undefined]> = [
    ['API', api && (() => api.close())],
    ['worker', worker && (() => stopWorker(worker))],
    ['Stripe sandbox', sandbox && (() => sandbox.stop())],
    ['Temporal dev server', temporal && (() => temporal.stop())],
    ['database', database && (() => database.stop())],
  ];
  let clean = true;
  for (const [part, stop] of steps) {
    if (!stop) continue;
    const started = Date.now();
    try {
      await stop();
      logger.debug({ part, ms: Date.now() - started }, 'Part stopped');
    } catch (error) {
      clean = false;
      logger.error({ err: error, part }, 'Part did not stop cleanly');
    }
  }
  return clean;
}

/**
 * The Temporal runtime answers SIGINT and SIGTERM by shutting workers down at once; we take
 * the signals over so the API drains first. The runtime offers no option to turn that off
 * once installed, so its listeners are removed right after it adds them.
 */
function takeOverSignals(onSignal: (signal: NodeJS.Signals) => void): void {
  const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  installTemporalRuntime();
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.off(signal, listener);
    }
    process.on(signal, onSignal);
  }
}

/**
 * Writes plain text to stdout after the log lines already queued: pino writes stdout
 * asynchronously, so a direct process.stdout.write could land before them.
 */
function writeAfterLog(text: string): void {
  const streams = logger as unknown as Record<symbol, { write(text: string): unknown } | undefined>;
  const stream = streams[pino.symbols.streamSym];
  if (stream) stream.write(text);
  else process.stdout.write(text);
}

function printReady(config: AppConfig, parts: Parts, settings: Settings, secrets: Secrets) {
  logger.info(
    {
      api: parts.api?.url,
      temporalWebUi: parts.temporal ? webUiUrl(settings) : undefined,
      temporalAddress: config.temporalAddress,
      stripe: parts.sandbox?.url ?? config.stripe.apiUrl ?? 'api.stripe.com',
      database: parts.database?.kind,
    },
    'Auto Reload ready; press Ctrl-C to stop',
  );
  // Deliberately not a log line, which would redact them: a person has to copy these.
  for (const line of secrets.generated) writeAfterLog(`${line}\n`);
}

/** Resolves when the worker stops before we stop it, which only a failure should cause. */
async function workerEnded(worker: RunningWorker | undefined, stopping: () => boolean) {
  if (!worker) return new Promise<void>(() => undefined);
  try {
    await worker.running;
    if (!stopping()) logger.error('Worker stopped unexpectedly');
  } catch (error) {
    logger.error({ err: error }, 'Worker failed');
  }
}

async function main(): Promise<number> {
  const parts: Parts = {};
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  let signals = 0;
  let firstSignalAt = 0;
  takeOverSignals((signal) => {
    signals += 1;
    if (signals === 1) {
      firstSignalAt = Date.now();
      logger.info({ signal }, 'Stopping');
      signalled(signal);
      return;
    }
    // One Ctrl-C under `npm start` arrives twice: from the terminal to the whole process
    // group, and again forwarded by npm. Only a later one means "stop now".
    if (Date.now() - firstSignalAt < REPEATED_SIGNAL_GRACE_MS) return;
    logger.warn({ signal }, 'Second signal: exiting without a clean stop');
    process.exit(130);
  });

  try {
    const settings = settingsFromEnv(process.env);
    const secrets = secretsFromEnv(process.env, wantsSandbox(process.env));
    const config = await startParts(parts, settings, secrets, () => signals > 0);
    if (config && signals === 0) printReady(config, parts, settings, secrets);
  } catch (error) {
    logger.fatal({ err: error }, 'Start failed');
    await stopParts(parts);
    return 1;
  }
  await Promise.race([stopSignal, workerEnded(parts.worker, () => signals > 0)]);
  const clean = await stopParts(parts);
  logger.info('Stopped');
  return signals > 0 && clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    logger.fatal({ err: error }, 'Start failed');
    process.exit(1);
  },
);
