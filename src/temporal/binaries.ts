import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const PROJECT_ROOT = path.resolve(__dirname, '../..');
const VENV_BIN = path.join(PROJECT_ROOT, '.tools', 'venv', 'bin');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Thrown when a Temporal binary is neither configured, on PATH, nor installed by setup. */
export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
}

/**
 * The Temporal CLI: TEMPORAL_CLI_PATH, else `temporal` on PATH, else the copy that
 * `npm run setup` installed into .tools/venv.
 */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  const found = env.TEMPORAL_CLI_PATH ?? onPath('temporal') ?? path.join(VENV_BIN, 'temporal');
  if (!isExecutable(found)) {
    throw new MissingBinaryError(`Temporal CLI not found at ${found}; run npm run setup`);
  }
  return found;
}

/** The Java time-skipping test server: TEMPORAL_TEST_SERVER_PATH, else the setup copy. */
export function temporalTestServerPath(env: NodeJS.ProcessEnv = process.env): string {
  const found = env.TEMPORAL_TEST_SERVER_PATH ?? path.join(VENV_BIN, 'temporal-test-server');
  if (!isExecutable(found)) {
    throw new MissingBinaryError(`Temporal test server not found at ${found}; run npm run setup`);
  }
  return found;
}
