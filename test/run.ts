/**
 * Runs the whole suite against real services: one Temporal dev server shared by every
 * test file, a fresh Postgres database with migrations applied, and the workflow code
 * bundled once. Usage: `tsx test/run.ts [test files...]`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { migrateDatabase } from '../src/db/migrate';
import { startDevServer } from '../src/temporal/dev-server';
import { writeWorkflowBundle } from './support/bundle';

const TEST_DIR = __dirname;

function testFiles(args: string[]): string[] {
  if (args.length > 0) return args.map((file) => path.resolve(file));
  return readdirSync(TEST_DIR)
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => path.join(TEST_DIR, name));
}

function serverUrl(): string {
  return process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

async function dropDatabase(name: string): Promise<void> {
  const sql = postgres(serverUrl(), { max: 1, onnotice: () => undefined });
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
  await sql.end();
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'auto-reload-test-'));
  const databaseName = `auto_reload_test_${process.pid}_${Date.now()}`;
  const databaseUrl = serverUrl().replace(/\/[^/]*$/, `/${databaseName}`);

  const [temporal] = await Promise.all([startDevServer(), migrateDatabase(databaseUrl)]);
  try {
    const bundlePath = await writeWorkflowBundle(scratch);

    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: databaseUrl,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    };
    const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...files];
    const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
    return await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    await temporal.stop();
    await dropDatabase(databaseName);
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `test run failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  },
);
