/**
 * The Temporal Schedule that runs the reconciler: every interval it starts
 * `reconcileStrandedMerchants` on the worker's task queue.
 */
import {
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import type { reconcileStrandedMerchants } from '../workflows/reconciler';

export const RECONCILER_SCHEDULE_ID = 'auto-reload-reconciler';
export const DEFAULT_RECONCILER_INTERVAL_SECONDS = 60;
/** The server refuses a shorter catch-up window. */
const MIN_CATCHUP_WINDOW_MS = 10_000;

export interface ReconcilerScheduleOptions {
  /** @default RECONCILER_SCHEDULE_ID; tests pass their own. */
  readonly scheduleId?: string;
  /** @default DEFAULT_RECONCILER_INTERVAL_SECONDS */
  readonly intervalSeconds?: number;
}

export interface ReconcilerSchedule {
  readonly scheduleId: string;
  readonly intervalSeconds: number;
  /** False when the schedule existed and was updated instead. */
  readonly created: boolean;
}

type Definition = Omit<
  ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof reconcileStrandedMerchants>>,
  'scheduleId' | 'state'
>;

function definition(taskQueue: string, intervalMs: number): Definition {
  return {
    spec: { intervals: [{ every: intervalMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'reconcileStrandedMerchants',
      taskQueue,
      args: [{}],
      // A run stuck on a dead database must not block the runs after it (overlap SKIP).
      workflowExecutionTimeout: '10 minutes',
    },
    policies: {
      // A run still going when the next is due makes the next one pointless.
      overlap: ScheduleOverlapPolicy.SKIP,
      // After an outage one run catches up; the missed ones would find the same merchants.
      catchupWindow: Math.max(intervalMs, MIN_CATCHUP_WINDOW_MS),
    },
  };
}

/**
 * Creates the reconciler's schedule, or brings an existing one up to date (task queue,
 * interval, policies) while keeping its paused state and note: every worker calls this at
 * start, and an operator's pause must survive a deploy.
 */
export async function ensureReconcilerSchedule(
  client: Client,
  taskQueue: string,
  options: ReconcilerScheduleOptions = {},
): Promise<ReconcilerSchedule> {
  const scheduleId = options.scheduleId ?? RECONCILER_SCHEDULE_ID;
  const intervalSeconds = options.intervalSeconds ?? DEFAULT_RECONCILER_INTERVAL_SECONDS;
  const wanted = definition(taskQueue, intervalSeconds * 1_000);
  try {
    await client.schedule.create({ scheduleId, ...wanted });
    return { scheduleId, intervalSeconds, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...wanted,
    state: {
      paused: previous.state.paused,
      ...(previous.state.note && { note: previous.state.note }),
    },
  }));
  return { scheduleId, intervalSeconds, created: false };
}
