/**
 * A durable timer that asks the main loop to evaluate again at an instant, armed once per
 * instant: evaluations that hit the same hold again and again add no timers to history.
 */
import { isCancellation, sleep } from '@temporalio/workflow';

export class WakeTimer {
  private armedFor: string | null = null;

  constructor(private readonly wake: () => void) {}

  /** Wakes the loop at `instant` (ISO 8601); a second call for the same instant does nothing. */
  at(instant: string): void {
    if (instant === this.armedFor) return;
    this.armedFor = instant;
    sleep(Math.max(Date.parse(instant) - Date.now(), 1)).then(
      () => {
        if (this.armedFor === instant) this.armedFor = null;
        this.wake();
      },
      (error: unknown) => {
        // Cancelling the workflow cancels the timer too; the loop reports that itself.
        if (!isCancellation(error)) throw error;
      },
    );
  }

  /** True while a timer is set for `instant`. */
  isArmedFor(instant: string): boolean {
    return this.armedFor === instant;
  }
}
