/**
 * pgbench running the ledger's debit statement, as the floor a C client reaches against
 * the same database. Skipped, with a note, where pgbench is not installed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEBIT_USAGE_SQL } from '../src/ledger/statements';
import type { Measurement } from './support';

const run = promisify(execFile);

export interface PgbenchRun {
  readonly databaseUrl: string;
  readonly script: string;
  readonly clients: number;
  /** pgbench -T takes whole seconds: rounded, at least 1. */
  readonly seconds: number;
  /** Merchant ids are the numbers first..last as text. */
  readonly first: number;
  readonly last: number;
  readonly amount: number;
}

export interface PgbenchResult extends Measurement {
  readonly failed: number;
}

/** pgbench takes only named variables: the statement's $n parameters become :names. */
function debitScript(): string {
  const statement = DEBIT_USAGE_SQL.replaceAll('$1', ':merchant')
    .replaceAll('$2', ':event')
    .replaceAll('$3', ':amount')
    .replaceAll('$4', ':kind')
    .trim();
  return [
    '\\set merchant random(:first, :last)',
    // Random ids in a range this wide repeat about never; the Node drivers' ids are not numbers.
    '\\set event random(1, 1000000000000000)',
    `${statement};`,
    '',
  ].join('\n');
}

/** `pgbench --version`, or null when it is not installed or does not run. */
export async function pgbenchVersion(): Promise<string | null> {
  try {
    const { stdout } = await run('pgbench', ['--version']);
    return stdout.trim();
  } catch {
    // Not installed (ENOENT) or not runnable: the caller says so and skips it.
    return null;
  }
}

/** Writes the debit script to a temporary file for the duration of `use`. */
export async function withDebitScript<T>(use: (script: string) => Promise<T>): Promise<T> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'auto-reload-bench-'));
  try {
    const script = path.join(folder, 'debit.sql');
    await writeFile(script, debitScript());
    return await use(script);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** One pgbench run with prepared statements; latency is its average (it has no p99). */
export async function runPgbench(options: PgbenchRun): Promise<PgbenchResult> {
  const seconds = Math.max(1, Math.round(options.seconds));
  const threads = Math.min(options.clients, os.cpus().length);
  const variables = {
    first: options.first,
    last: options.last,
    amount: options.amount,
    kind: 'chat',
  };
  const args = [
    ...['-n', '-M', 'prepared', '-f', options.script, '-T', String(seconds)],
    ...['-c', String(options.clients), '-j', String(threads)],
    ...Object.entries(variables).flatMap(([name, value]) => ['-D', `${name}=${value}`]),
    options.databaseUrl,
  ];
  const { stdout } = await run('pgbench', args);

  const figure = (pattern: RegExp) => Number(pattern.exec(stdout)?.[1] ?? Number.NaN);
  return {
    count: figure(/actually processed: ([0-9]+)/),
    seconds,
    perSecond: figure(/tps = ([0-9.]+)/),
    p50Ms: figure(/latency average = ([0-9.]+) ms/),
    p99Ms: Number.NaN,
    failed: figure(/number of failed transactions: ([0-9]+)/),
  };
}
