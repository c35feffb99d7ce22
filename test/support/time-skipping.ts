/**
 * The time-skipping test server with a worker over fake activities, for workflow tests that
 * must cross hours or months. Drive it with signals and queries: it has hung on Updates.
 * Time skipping is global to the server, so each test file starts its own.
 */
import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalTestServerPath } from '../../src/temporal/binaries';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../../src/temporal/search-attributes';
import { FakeActivities, type FakeWorker, startFakeWorker } from './fake-activities';

/** @temporalio/proto comes with @temporalio/client; it is not a direct dependency. */
const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export interface TimeSkippingFixture {
  readonly env: TestWorkflowEnvironment;
  readonly fakes: FakeActivities;
  readonly worker: FakeWorker;
  /** Moves the server's clock to `isoTime` (it starts at real now and only moves forward). */
  skipTo(isoTime: string): Promise<void>;
  /**
   * Moves the clock to the 5th of next month, 00:00 UTC: a test that then spans days
   * crosses no cycle end of the fake merchants (anchored on the 1st), whose roll would add a
   * decision, whenever it runs.
   */
  skipToMidCycle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTimeSkipping(): Promise<TimeSkippingFixture> {
  installTemporalRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
  // This server takes no search-attribute flags; the workflow's upserts need them.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: { [MERCHANT_ID_KEY.name]: KEYWORD, [AUTO_RELOAD_STATUS_KEY.name]: KEYWORD },
  });
  const fakes = new FakeActivities();
  const worker = await startFakeWorker(env, fakes);
  const skipTo = async (isoTime: string): Promise<void> => {
    const delta = Date.parse(isoTime) - (await env.currentTimeMs());
    assert.ok(delta > 0, `the server clock is already past ${isoTime}`);
    await env.sleep(delta);
  };
  return {
    env,
    fakes,
    worker,
    skipTo,
    async skipToMidCycle() {
      const now = new Date(await env.currentTimeMs());
      await skipTo(
        new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 5)).toISOString(),
      );
    },
    async stop() {
      await worker.stop();
      await env.teardown();
    },
  };
}
