/**
 * Replays recorded histories against the current workflow code. A non-determinism error
 * here means a change would break merchants' running workflows: guard it with `patched()`
 * instead of re-recording the fixtures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { SCENARIOS, fetchAllRuns, fixtureHistories } from './support/histories/scenarios';
import { FakeWorkflowHarness } from './support/merchant-workflow';
import { workflowBundle } from './support/temporal';

const harness = FakeWorkflowHarness.perTestFile();

void test('replays the checked-in histories, including continued-as-new runs', async () => {
  const fixtures = fixtureHistories();
  assert.ok(fixtures.length >= 3, `expected fixture histories, found ${fixtures.length}`);

  const histories = fixtures.map(({ name, history }) => ({ workflowId: name, history }));
  const replayed: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: await workflowBundle() },
    histories,
  )) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
    replayed.push(result.workflowId);
  }
  assert.deepEqual(
    replayed,
    fixtures.map(({ name }) => name),
  );
});

for (const scenario of SCENARIOS) {
  void test(`replays a fresh ${scenario.name} history of the current code`, async (t) => {
    const { merchant, handle } = await harness.start(t, { ...scenario.merchant });
    await scenario.drive(handle, merchant);

    const { client } = harness.env;
    const runs = await fetchAllRuns(client, handle.workflowId, handle.firstExecutionRunId);
    const bundle = await workflowBundle();
    for (const history of runs) {
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, handle.workflowId);
    }
  });
}
