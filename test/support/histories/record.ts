/**
 * Records the fixture histories that replay.test.ts checks every later version of the
 * workflow against. Run it once per deliberate change of the workflow's history shape
 * (after adding a patch for running workflows), never to make a failing replay pass:
 *
 *   npx tsx test/support/histories/record.ts
 *
 * It starts its own dev server with continue-as-new suggested early, so the fixtures also
 * hold a run that continued as new and a run that started from carried state.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../../src/temporal/dev-server';
import { FakeActivities, startFakeWorker } from '../fake-activities';
import { startMerchant } from '../merchant-workflow';
import { installTemporalRuntime } from '../../../src/temporal/runtime';
import { HISTORIES_DIR, SCENARIOS, fetchAllRuns } from './scenarios';

async function main(): Promise<void> {
  installTemporalRuntime();
  const server = await startDevServer({
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 },
  });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  const fakes = new FakeActivities();
  const worker = await startFakeWorker(env, fakes);
  // The server and its workflows are thrown away at the end: nothing to clean up.
  const noCleanup = { after: (): void => undefined };
  try {
    for (const scenario of SCENARIOS) {
      const { merchant, handle } = await startMerchant(noCleanup, env, worker, fakes, {
        ...scenario.merchant,
      });
      await scenario.drive(handle, merchant);
      const runs = await fetchAllRuns(env.client, handle.workflowId, handle.firstExecutionRunId);
      runs.forEach((history, index) => {
        const file = path.join(HISTORIES_DIR, `${scenario.name}-run${index + 1}.json`);
        writeFileSync(file, `${JSON.stringify(history)}\n`);
        process.stdout.write(`wrote ${file} (${history.events?.length ?? 0} events)\n`);
      });
    }
  } finally {
    await worker.stop();
    await env.teardown();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `recording failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
