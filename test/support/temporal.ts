import { readFileSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { testTemporalAddress } from './env';

/** Connects to the dev server that test/run.ts started; call `teardown()` in `after`. */
export async function connectTestEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  return TestWorkflowEnvironment.createFromExistingServer({ address: testTemporalAddress() });
}

let cachedBundle: Promise<{ code: string }> | undefined;

/** The merchant workflow bundled once per run (test/run.ts) or once per process. */
export function workflowBundle(): Promise<{ code: string }> {
  cachedBundle ??= process.env.WORKFLOW_BUNDLE_PATH
    ? Promise.resolve({ code: readFileSync(process.env.WORKFLOW_BUNDLE_PATH, 'utf8') })
    : bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') });
  return cachedBundle;
}

let taskQueueCounter = 0;
/** A task queue no other test uses, so workers of different tests never steal work. */
export function uniqueTaskQueue(prefix: string): string {
  taskQueueCounter += 1;
  return `${prefix}-${process.pid}-${taskQueueCounter}-${Date.now()}`;
}
