/**
 * `npm run bench`: prints the machine, makes a scratch database, runs the sections and
 * drops the database. Usage: `tsx bench/run.ts [section...]` (all sections by default).
 * Figures are printed, never asserted: they depend on the machine.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { migrateDatabase } from '../src/db/migrate';
import { benchHttp } from './http';
import { benchLedger } from './ledger';
import { benchReaction } from './reaction';
import type { BenchContext, BenchSection } from './support';

/** Add a section here; each gets the same migrated scratch database. */
const SECTIONS: readonly BenchSection[] = [
  { name: 'ledger', run: benchLedger },
  { name: 'reaction', run: benchReaction },
  { name: 'http', run: benchHttp },
];

const print = (line = ''): void => console.log(line);

function serverUrl(): string {
  return process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** The installed version, read from the package's own package.json (exports hide it). */
function packageVersion(name: string): string {
  try {
    const file = path.resolve(__dirname, '..', 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    // A missing or hoisted-away package is worth a blank in the report, not a failed bench.
    return 'unknown';
  }
}

async function printMachine(admin: postgres.Sql): Promise<void> {
  const cpus = os.cpus();
  const [server] = await admin<{ version: string; max: string }[]>`
    select current_setting('server_version') as version,
      current_setting('max_connections') as max`;
  print(`cpu:      ${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`);
  print(`memory:   ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
  print(`os:       ${os.type()} ${os.release()} ${os.arch()}`);
  print(`node:     ${process.version}`);
  print(`postgres: ${server?.version ?? 'unknown'} (max_connections ${server?.max ?? '?'})`);
  print(
    `packages: postgres ${packageVersion('postgres')}, ` +
      `drizzle-orm ${packageVersion('drizzle-orm')}`,
  );
}

function selectedSections(names: readonly string[]): readonly BenchSection[] {
  if (names.length === 0) return SECTIONS;
  const unknown = names.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0) {
    const known = SECTIONS.map((section) => section.name).join(', ');
    throw new Error(`unknown bench section ${unknown.join(', ')}; known: ${known}`);
  }
  return SECTIONS.filter((section) => names.includes(section.name));
}

async function main(): Promise<void> {
  const sections = selectedSections(process.argv.slice(2));
  const databaseName = `auto_reload_bench_${process.pid}`;
  const databaseUrl = serverUrl().replace(/\/[^/]*$/, `/${databaseName}`);
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  if (!(seconds > 0)) throw new Error('BENCH_SECONDS must be a positive number');

  const admin = postgres(serverUrl(), { max: 1, onnotice: () => undefined });
  try {
    await printMachine(admin);
    print(
      `load:     ${os
        .loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')} ` + '(1/5/15 min; other work on the machine skews every figure)',
    );
    print(`database: ${databaseName} (scratch, dropped at the end)`);
    await migrateDatabase(databaseUrl);
    const ctx: BenchContext = { databaseUrl, seconds, print };
    for (const section of sections) {
      print();
      print(`== ${section.name} ==`);
      const started = Date.now();
      await section.run(ctx);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      print(`(${section.name}: ${took} s, load now ${os.loadavg()[0]?.toFixed(2) ?? '?'})`);
    }
  } finally {
    await admin.unsafe(`drop database if exists "${databaseName}" with (force)`);
    await admin.end({ timeout: 5 });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
