import path from 'node:path';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { connect } from './client';

const MIGRATIONS_FOLDER = path.resolve(__dirname, '../../drizzle');

/**
 * Creates the database named in `url` when it does not exist yet, connecting to the
 * server's `postgres` database to do so. Fails loudly when the server cannot be reached.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');

  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) {
      await sql
        .unsafe(`create database "${name.replaceAll('"', '""')}"`)
        .catch((error: unknown) => {
          // Another process may have created it between our check and this statement.
          if ((error as { code?: string }).code !== '42P04') throw error;
        });
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates the database if needed and applies every pending migration. */
export async function migrateDatabase(url: string): Promise<void> {
  await ensureDatabase(url);
  const handle = connect(url, { max: 1 });
  try {
    await migrate(handle.db, { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await handle.close();
  }
}
