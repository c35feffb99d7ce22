/**
 * The one command (`npm start`, src/start.ts) as a user runs it: a child process with its
 * own Temporal dev server, Stripe sandbox, worker and API on free ports, driven over HTTP,
 * then stopped with Ctrl-C (SIGINT to its process group).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { urlWithoutPassword } from '../src/db/local-database';
import { freePort } from '../src/temporal/dev-server';
import { testDatabaseUrl } from './support/env';
import { waitFor } from './support/wait';

const PROJECT_ROOT = path.resolve(__dirname, '..');
const ADMIN_KEY = 'adm_start_test_admin_key';
const PIPELINE_KEY = 'pip_start_test_pipeline_key';
// Bundling the workflows alone takes several seconds on a loaded 2-core machine.
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

interface Ports {
  readonly api: number;
  readonly temporal: number;
  readonly temporalUi: number;
  readonly sandbox: number;
}

interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

/** The started command: its process, what it printed, and how it ended. */
class StartedSystem {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly child: ChildProcess,
    readonly ports: Ports,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.ports.api}`;
  }

  /** The JSON log lines printed so far; plain lines (the key print) are left out. */
  logLines(): LogLine[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  }

  logLine(msg: string): LogLine | undefined {
    return this.logLines().find((line) => line.msg === msg);
  }

  /** True while any process of the command's group is alive. */
  groupAlive(): boolean {
    try {
      process.kill(-(this.child.pid ?? 0), 0);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw error;
    }
  }
}

async function freePorts(): Promise<Ports> {
  return {
    api: await freePort(),
    temporal: await freePort(),
    temporalUi: await freePort(),
    sandbox: await freePort(),
  };
}

function startCommand(dataDir: string, ports: Ports): StartedSystem {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: testDatabaseUrl(),
    DATA_DIR: dataDir,
    API_PORT: String(ports.api),
    TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.temporalUi),
    STRIPE_SANDBOX_PORT: String(ports.sandbox),
    ADMIN_API_KEY: ADMIN_KEY,
    PIPELINE_API_KEY: PIPELINE_KEY,
    LOG_LEVEL: 'info',
  };
  // The command must start its own Temporal server and sandbox, not reuse the run's.
  for (const name of ['TEMPORAL_ADDRESS', 'STRIPE_API_URL', 'STRIPE_SECRET_KEY']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/start.ts'], {
    cwd: PROJECT_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new StartedSystem(child, ports);
}

async function call(
  system: StartedSystem,
  method: string,
  route: string,
  key: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${system.apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `promise`'s value, or `fallback` once `ms` have passed; the timer never outlives it. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: () => F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends whatever a failed test left running: politely first, since Temporal is detached. */
async function forceStop(system: StartedSystem): Promise<void> {
  if (!system.groupAlive()) return;
  process.kill(-(system.child.pid ?? 0), 'SIGTERM');
  const stopped = await within(system.exited, STOP_TIMEOUT_MS, () => undefined);
  if (!stopped && system.groupAlive()) process.kill(-(system.child.pid ?? 0), 'SIGKILL');
}

describe('npm start', () => {
  let system: StartedSystem;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'auto-reload-start-'));
    system = startCommand(dataDir, await freePorts());
    const early = system.exited.then(({ code }) => {
      throw new Error(`npm start exited with ${code}: ${system.stderr}\n${system.stdout}`);
    });
    const ready = waitFor(
      'GET /readyz to answer 200',
      async () => ((await fetch(`${system.apiUrl}/readyz`)).status === 200 ? true : undefined),
      READY_TIMEOUT_MS,
      250,
    );
    await Promise.race([ready, early]);
    // The worker is ready a little after the API, in the summary line's time.
    await waitFor('the ready summary', () =>
      system.logLine('Auto Reload ready; press Ctrl-C to stop'),
    );
  });

  after(async () => {
    await forceStop(system);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('logs each part ready, naming the database it chose, and prints no key', () => {
    for (const msg of [
      'Temporal dev server ready',
      'Stripe sandbox ready',
      'Worker ready',
      'API ready',
    ]) {
      assert.ok(system.logLine(msg), `missing "${msg}" in:\n${system.stdout}`);
    }
    const database = system.logLine('Database ready');
    assert.equal(database?.database, 'postgres');
    assert.equal(database?.url, urlWithoutPassword(testDatabaseUrl()));
    assert.equal(system.logLine('API ready')?.url, system.apiUrl);
    assert.doesNotMatch(system.stdout, /\(generated\)/);
  });

  test('recharges a merchant whose usage takes it below the threshold', async () => {
    const created = await call(system, 'POST', '/v1/merchants', ADMIN_KEY, { name: 'Start shop' });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    assert.match(id, /^mer_/);
    assert.equal(typeof created.body.apiKey, 'string');

    const card = { paymentMethodId: 'pm_card_visa' };
    const saved = await call(system, 'PUT', `/v1/merchants/${id}/payment-method`, ADMIN_KEY, card);
    assert.equal(saved.status, 200);
    const rule = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '100.00' };
    const enabled = await call(system, 'PUT', `/v1/merchants/${id}/auto-reload`, ADMIN_KEY, rule);
    assert.equal(enabled.status, 200);

    const credit = { id: 'c1', amount: '15.00', reason: 'welcome' };
    const credited = await call(system, 'POST', `/v1/merchants/${id}/credits`, ADMIN_KEY, credit);
    assert.equal(credited.status, 201);
    const usage = { id: 'u1', amount: '6.00', kind: 'campaign' };
    const used = await call(system, 'POST', `/v1/merchants/${id}/usage`, PIPELINE_KEY, usage);
    assert.equal(used.status, 201);

    // 15.00 - 6.00 + one recharge of 20.00, whichever lands first.
    const balance = await waitFor('the recharge to be credited', async () => {
      const answer = await call(system, 'GET', `/v1/merchants/${id}/balance`, ADMIN_KEY);
      return answer.body.balance === '29.00' ? answer.body : undefined;
    });
    assert.deepEqual(balance, { balance: '29.00', currency: 'usd', ledgerSeq: 3 });
  });

  test("delivers the sandbox's signed webhooks to the API", async () => {
    const received = await waitFor('a payment_intent.succeeded webhook', () =>
      system
        .logLines()
        .find(
          (line) =>
            line.msg === 'Stripe event received' && line.type === 'payment_intent.succeeded',
        ),
    );
    assert.notEqual(received.outcome, undefined);
  });

  test('stops on SIGINT with exit code 0, leaving no process and no port behind', async () => {
    process.kill(-(system.child.pid ?? 0), 'SIGINT');
    const exit = await within(system.exited, STOP_TIMEOUT_MS, () => 'still running');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(system.logLine('Stopped'));

    await waitFor('the process group to be gone', () => (system.groupAlive() ? undefined : true));
    const { api, temporal, temporalUi, sandbox } = system.ports;
    for (const port of [api, temporal, temporalUi, sandbox]) {
      await waitFor(`port ${port} to be free`, async () =>
        (await portIsFree(port)) ? true : undefined,
      );
    }
  });
});
