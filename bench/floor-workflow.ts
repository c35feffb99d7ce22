/**
 * The floor of the reaction benchmark: the least a Temporal round takes on this server.
 * A signal wakes the workflow, which runs one no-op activity, then waits again.
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

export interface FloorActivities {
  touch(index: number): Promise<void>;
}

const { touch } = proxyActivities<FloorActivities>({ startToCloseTimeout: '10s' });

export const pokeSignal = defineSignal<[number]>('poke');

export async function floorWorkflow(): Promise<void> {
  const pending: number[] = [];
  setHandler(pokeSignal, (index) => {
    pending.push(index);
  });
  for (;;) {
    await condition(() => pending.length > 0);
    await touch(pending.shift() ?? 0);
  }
}
