/**
 * The workflow code bundled once into a file, for every worker of a run to load through
 * WORKFLOW_BUNDLE_PATH instead of bundling again (seconds each on a 2-core machine).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = () => undefined;
const QUIET_LOGGER = {
  log: quiet,
  trace: quiet,
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: quiet,
};

/** Bundles src/workflows into `dir`; answers the file's path. */
export async function writeWorkflowBundle(dir: string): Promise<string> {
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: QUIET_LOGGER,
  });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  return bundlePath;
}
