import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema';

export type Database = PostgresJsDatabase<typeof schema>;

/** A Postgres connection pool and the Drizzle handle over it; close it on shutdown. */
export interface DatabaseHandle {
  readonly sql: postgres.Sql;
  readonly db: Database;
  close(): Promise<void>;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/auto_reload';

/** The configured database URL; the local default when DATABASE_URL is unset. */
export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
}

/**
 * int8 as a JS number, refusing values a number cannot hold exactly: a wrong balance must
 * fail loudly, never round silently.
 */
function parseSafeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`int8 ${value} exceeds 2^53 - 1`);
  return parsed;
}

export function connect(url: string, options: { max?: number } = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => undefined,
    // int8 columns come back as JS numbers: every value we store is a safe integer.
    types: {
      int8: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: parseSafeInteger,
      },
    },
    transform: { undefined: null },
  });
  return {
    sql,
    db: drizzle(sql, { schema }),
    close: () => sql.end({ timeout: 5 }),
  };
}
