/** Connection settings that test/run.ts hands to every test file. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run tests through npm test (test/run.ts)`);
  return value;
}

export const testTemporalAddress = (): string => requiredEnv('TEMPORAL_ADDRESS');
export const testDatabaseUrl = (): string => requiredEnv('DATABASE_URL');
