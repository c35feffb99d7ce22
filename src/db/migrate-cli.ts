import { databaseUrl } from './client';
import { migrateDatabase } from './migrate';

const url = databaseUrl();
migrateDatabase(url).then(
  () => {
    process.stdout.write(`migrations applied to ${new URL(url).pathname.slice(1)}\n`);
  },
  (error: unknown) => {
    process.stderr.write(`migration failed: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
