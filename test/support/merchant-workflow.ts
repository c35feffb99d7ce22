/**
 * Starts and reads merchant workflows in tests, against fake activities.
 */
import {
  type WorkflowHandleWithFirstExecutionRunId,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { after, before } from 'node:test';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BalanceAfter } from '../../src/activities/contract';
import type { AutoReloadSettings } from '../../src/domain/auto-reload';
import { balanceChangedSignal, getStateQuery } from '../../src/workflows/definitions';
import { merchantWorkflowId } from '../../src/workflows/ids';
import type { merchantAutoReload } from '../../src/workflows/merchant-auto-reload';
import type { AutoReloadStateView } from '../../src/workflows/state';
import {
  BASE_SETTINGS,
  FakeActivities,
  type FakeMerchant,
  type FakeMerchantOptions,
  type FakeWorker,
  startFakeWorker,
} from './fake-activities';
import { connectTestEnvironment } from './temporal';
import { waitFor } from './wait';

export type MerchantHandle = WorkflowHandleWithFirstExecutionRunId<typeof merchantAutoReload>;

export interface StartedMerchant {
  readonly merchant: FakeMerchant;
  readonly handle: MerchantHandle;
}

/** Where cleanup goes: a node:test TestContext, or a script's own list. */
export interface CleanupRegistry {
  after(fn: () => Promise<void>): void;
}

/** Adds a fake merchant, starts its workflow, and terminates it when the test ends. */
export async function startMerchant(
  t: CleanupRegistry,
  env: TestWorkflowEnvironment,
  worker: FakeWorker,
  fakes: FakeActivities,
  options: FakeMerchantOptions,
): Promise<StartedMerchant> {
  const merchant = fakes.addMerchant(options);
  const handle = await env.client.workflow.start<typeof merchantAutoReload>('merchantAutoReload', {
    workflowId: merchantWorkflowId(merchant.merchantId),
    taskQueue: worker.taskQueue,
    args: [{ merchantId: merchant.merchantId }],
  });
  t.after(async () => {
    try {
      await handle.terminate('test finished');
    } catch (error) {
      // A test that ended the workflow itself has nothing left to clean up.
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  });
  return { merchant, handle };
}

/** Polls the getState query until `predicate` holds; answers that state. */
export async function waitForState(
  handle: MerchantHandle,
  predicate: (state: AutoReloadStateView) => boolean,
  what: string,
  // Generous: a loaded 2-core CI machine must not turn slowness into a failure.
  timeoutMs = 30_000,
): Promise<AutoReloadStateView> {
  return waitFor(
    what,
    async () => {
      const state = await handle.query(getStateQuery);
      return predicate(state) ? state : undefined;
    },
    timeoutMs,
  );
}

/**
 * Waits until the workflow is idle with this status: published to Postgres (the fake's
 * saveStatus) and nothing in flight, so later assertions see every call it made.
 */
export async function waitForIdle(
  handle: MerchantHandle,
  merchant: FakeMerchant,
  status: AutoReloadStateView['status'],
): Promise<AutoReloadStateView> {
  return waitForState(
    handle,
    (state) => state.status === status && state.inFlight === null && merchant.status === status,
    `status ${status}`,
  );
}

/** Waits until the fake decision log holds `count` rows (activities run after the task). */
export async function waitForDecisions(merchant: FakeMerchant, count: number): Promise<void> {
  await waitFor(`${count} recorded decisions`, () =>
    merchant.decisions().length === count ? true : undefined,
  );
}

/** Signals a ledger change and waits until the workflow has applied it. */
export async function sendBalance(handle: MerchantHandle, change: BalanceAfter): Promise<void> {
  await handle.signal(balanceChangedSignal, change);
  await waitForState(handle, (s) => s.ledgerSeq >= change.ledgerSeq, `ledger ${change.ledgerSeq}`);
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Anything that can fetch a workflow's history: a typed or an untyped client handle. */
export interface HistorySource {
  fetchHistory(): Promise<temporal.api.history.v1.IHistory>;
}

/**
 * True once `count` signals named `signalName` are in the history and a workflow task
 * completed after the last one: a task that started after a signal has handled it.
 */
export function signalsHandled(events: HistoryEvent[], signalName: string, count: number) {
  const signals = events.flatMap((event, index) =>
    event.workflowExecutionSignaledEventAttributes?.signalName === signalName ? [index] : [],
  );
  const last = signals[count - 1];
  if (signals.length !== count || last === undefined) return false;
  return events.slice(last).some((event) => event.workflowTaskCompletedEventAttributes);
}

/** Waits until the workflow has handled exactly `count` such signals; answers the history. */
export async function waitForSignalsHandled(
  handle: HistorySource,
  signalName: string,
  count: number,
): Promise<HistoryEvent[]> {
  return waitFor(`${count} ${signalName} signals handled`, async () => {
    const events = (await handle.fetchHistory()).events ?? [];
    return signalsHandled(events, signalName, count) ? events : undefined;
  });
}

/** How many activities of this type completed, according to the history. */
export function completedActivities(events: HistoryEvent[], activityType: string): number {
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      .map((e) => String(e.eventId)),
  );
  return events.filter((e) =>
    scheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
  ).length;
}

/** BASE_SETTINGS with some fields replaced. */
export function settingsWith(overrides: Partial<AutoReloadSettings>): AutoReloadSettings {
  return { ...BASE_SETTINGS, ...overrides };
}

/** One worker with fake activities per test file, on the dev server test/run.ts started. */
export class FakeWorkflowHarness {
  private parts:
    { env: TestWorkflowEnvironment; fakes: FakeActivities; worker: FakeWorker } | undefined;

  /** Creates the harness and registers its set-up and tear-down in the calling file. */
  static perTestFile(): FakeWorkflowHarness {
    const harness = new FakeWorkflowHarness();
    before(async () => {
      const env = await connectTestEnvironment();
      const fakes = new FakeActivities();
      harness.parts = { env, fakes, worker: await startFakeWorker(env, fakes) };
    });
    after(async () => {
      await harness.parts?.worker.stop();
      await harness.parts?.env.teardown();
    });
    return harness;
  }

  private get ready(): NonNullable<FakeWorkflowHarness['parts']> {
    if (!this.parts) throw new Error('FakeWorkflowHarness used outside its tests');
    return this.parts;
  }

  get env(): TestWorkflowEnvironment {
    return this.ready.env;
  }

  get fakes(): FakeActivities {
    return this.ready.fakes;
  }

  get worker(): FakeWorker {
    return this.ready.worker;
  }

  /** Starts a fake merchant's workflow; it is terminated when the test ends. */
  start(t: CleanupRegistry, options: FakeMerchantOptions): Promise<StartedMerchant> {
    const { env, worker, fakes } = this.ready;
    return startMerchant(t, env, worker, fakes, options);
  }
}

/** The Markdown the Temporal Web UI shows as the workflow's current details. */
export async function currentDetails(handle: Pick<MerchantHandle, 'query'>): Promise<string> {
  const metadata = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails;
}
