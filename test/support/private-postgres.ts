/**
 * A PostgreSQL server of a test's own, in a scratch folder on a free port, so that the test
 * can crash and restart it without touching the server the rest of the suite uses. Made
 * with the machine's own initdb and pg_ctl (Debian keeps them in /usr/lib/postgresql/N/bin).
 * Postgres refuses to run as root, so as root they run as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/temporal/dev-server';

const run = promisify(execFile);
const DEBIAN_BIN_ROOT = '/usr/lib/postgresql';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  readonly url: string;
  /**
   * `immediate`: the server stops without a checkpoint, as on a crash, and recovers from its
   * log at start. Every open connection is cut either way.
   */
  restart(mode?: 'immediate' | 'fast'): Promise<void>;
  stop(): Promise<void>;
}

/** The folder of initdb and pg_ctl: PG_BIN_DIR, else the newest Debian install. */
function binDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const versions = existsSync(DEBIAN_BIN_ROOT) ? readdirSync(DEBIAN_BIN_ROOT).sort() : [];
  const newest = versions.at(-1);
  if (newest === undefined) throw new Error('No PostgreSQL binaries: set PG_BIN_DIR');
  return path.join(DEBIAN_BIN_ROOT, newest, 'bin');
}

async function asServerUser(command: string, args: readonly string[]): Promise<void> {
  const binary = path.join(binDir(), command);
  const asRoot = process.getuid?.() === 0;
  const [file, fullArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
    : [binary, [...args]];
  await run(file, fullArgs, { timeout: 60_000 });
}

export async function startPrivatePostgres(database = 'auto_reload'): Promise<PrivatePostgres> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'auto-reload-pg-'));
  const dataDir = path.join(scratch, 'data');
  const port = await freePort();
  // fsync off: nothing here must survive the machine, only the server's own crash.
  const serverOptions = `-p ${port} -k ${scratch} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const pgCtl = (...args: string[]) =>
    asServerUser('pg_ctl', ['-D', dataDir, '-l', path.join(scratch, 'log'), '-w', ...args]);

  if (process.getuid?.() === 0) await run('chown', ['postgres', scratch]);
  await asServerUser('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  await pgCtl('-o', serverOptions, 'start');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    async restart(mode = 'immediate') {
      await pgCtl('-m', mode, '-o', serverOptions, 'restart');
    },
    async stop() {
      // A server that a failed restart left down has nothing to stop; the folder goes anyway.
      await pgCtl('-m', 'immediate', 'stop').catch(() => undefined);
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
