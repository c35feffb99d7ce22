/**
 * Which database `npm start` uses (SPEC 6): DATABASE_URL when set, and nothing else; else a
 * Postgres on 127.0.0.1:5432 if one answers; else the embedded PGlite database.
 */
import postgres from 'postgres';
import { type Logger, logger as defaultLogger } from '../logger';
import { DEFAULT_DATABASE_URL } from './client';
import { DEFAULT_EMBEDDED_PORT, startEmbeddedPostgres } from './embedded';
import { migrateDatabase } from './migrate';

export type DatabaseKind = 'postgres' | 'embedded PGlite';

/** A migrated database ready for the worker and the API; `stop()` ends an embedded one. */
export interface LocalDatabase {
  readonly kind: DatabaseKind;
  readonly url: string;
  stop(): Promise<void>;
}

export interface LocalDatabaseOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Where the embedded database keeps its files. */
  readonly embeddedDataDir: string;
  readonly log?: Logger;
}

/** Thrown when the Postgres named by DATABASE_URL cannot be reached or migrated. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

/** The URL with its password left out, fit for a log line. */
export function urlWithoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = '';
  return parsed.toString();
}

/** A quick `select 1`, so a machine without Postgres does not wait long to find out. */
async function answers(url: string, timeoutSeconds = 1): Promise<true | string> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), {
    max: 1,
    connect_timeout: timeoutSeconds,
    onnotice: () => undefined,
  });
  try {
    await sql`select 1`;
    return true;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function configuredPostgres(url: string): Promise<LocalDatabase> {
  try {
    await migrateDatabase(url);
  } catch (error) {
    // No fallback: a configured database that is down must stop the start, not hide.
    throw new DatabaseUnavailableError(
      `DATABASE_URL ${urlWithoutPassword(url)} could not be reached or migrated`,
      { cause: error },
    );
  }
  return { kind: 'postgres', url, stop: () => Promise.resolve() };
}

function embeddedPort(env: NodeJS.ProcessEnv): number {
  const raw = env.EMBEDDED_DATABASE_PORT;
  if (raw === undefined || raw === '') return DEFAULT_EMBEDDED_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`EMBEDDED_DATABASE_PORT must be a port number, not "${raw}"`);
  }
  return port;
}

async function embedded(options: LocalDatabaseOptions, env: NodeJS.ProcessEnv) {
  const database = await startEmbeddedPostgres({
    dataDir: options.embeddedDataDir,
    port: embeddedPort(env),
    ...(options.log ? { log: options.log } : {}),
  });
  try {
    await migrateDatabase(database.url);
  } catch (error) {
    await database.stop();
    throw error;
  }
  const kind: DatabaseKind = 'embedded PGlite';
  return { kind, url: database.url, stop: () => database.stop() };
}

/**
 * Chooses, opens and migrates the local system's database. Throws
 * DatabaseUnavailableError when DATABASE_URL is set and its server is down.
 */
export async function openLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  const env = options.env ?? process.env;
  const log = options.log ?? defaultLogger;
  if (env.DATABASE_URL) return configuredPostgres(env.DATABASE_URL);

  const local = await answers(DEFAULT_DATABASE_URL);
  if (local === true) {
    await migrateDatabase(DEFAULT_DATABASE_URL);
    return { kind: 'postgres', url: DEFAULT_DATABASE_URL, stop: () => Promise.resolve() };
  }
  log.info({ reason: local }, 'No Postgres answered on 127.0.0.1:5432; using embedded PGlite');
  return embedded(options, env);
}
