/** What every bench section gets, and the small helpers they share. */
import { performance } from 'node:perf_hooks';

/** Handed to each section by bench/run.ts. */
export interface BenchContext {
  /** The scratch database, migrated, dropped after the run. */
  readonly databaseUrl: string;
  /** Seconds each timed measurement runs (BENCH_SECONDS, default 2.5). */
  readonly seconds: number;
  /** Prints a line of the report. */
  readonly print: (line?: string) => void;
}

/** A named part of the bench; run.ts runs them in order, or those named on the command line. */
export interface BenchSection {
  readonly name: string;
  readonly run: (ctx: BenchContext) => Promise<void>;
}

export interface Measurement {
  /** Operations completed before the deadline. */
  readonly count: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

/** The median and the 99th percentile of unsorted samples. */
export function percentiles(values: readonly number[]): { p50: number; p99: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

/**
 * Accumulates timed runs of one driver, so that two drivers can take turns (A B B A ...)
 * and drift on a shared machine does not favour whichever ran first.
 */
export class Recorder {
  private readonly latencies: number[] = [];
  private elapsedMs = 0;

  /**
   * Runs `op` in `callers` concurrent loops for `seconds`, each loop starting its next
   * call when the previous one ends (closed loop, like pgbench's clients).
   */
  async run(
    callers: number,
    seconds: number,
    op: (caller: number, iteration: number) => Promise<unknown>,
  ): Promise<void> {
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const loop = async (caller: number): Promise<void> => {
      for (let iteration = 0; performance.now() < deadline; iteration += 1) {
        const before = performance.now();
        await op(caller, iteration);
        this.latencies.push(performance.now() - before);
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, caller) => loop(caller)));
    this.elapsedMs += performance.now() - started;
  }

  result(): Measurement {
    const seconds = this.elapsedMs / 1000;
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      count: sorted.length,
      seconds,
      perSecond: sorted.length / seconds,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
  }
}

/** One timed run of `op`; see Recorder.run. */
export async function measure(
  callers: number,
  seconds: number,
  op: (caller: number, iteration: number) => Promise<unknown>,
): Promise<Measurement> {
  const recorder = new Recorder();
  await recorder.run(callers, seconds, op);
  return recorder.result();
}

/** Latencies of an open loop, in ms; see openLoop. */
export interface OpenLoopResult {
  /** From each call's slot in the timetable to its answer: what a caller on a schedule sees. */
  readonly fromSlot: number[];
  /** From the moment the call actually started to its answer. */
  readonly fromStart: number[];
  /** How late each call started after its slot: the load generator's own delay. */
  readonly lag: number[];
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `op` `rate` times a second for `seconds` on a fixed timetable, whether or not
 * earlier calls have answered (open loop), then waits for all of them. Measuring from the
 * slot rather than the start counts the time a call waited for a late load generator too.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  op: () => Promise<unknown>,
): Promise<OpenLoopResult> {
  const result: OpenLoopResult = { fromSlot: [], fromStart: [], lag: [] };
  const one = async (slot: number) => {
    const started = performance.now();
    await op();
    const answered = performance.now();
    result.fromSlot.push(answered - slot);
    result.fromStart.push(answered - started);
    result.lag.push(started - slot);
  };
  const total = Math.round(rate * seconds);
  const first = performance.now();
  const slot = (index: number) => first + (index * 1000) / rate;
  const inFlight: Promise<void>[] = [];
  for (let next = 0; next < total; await pause(1)) {
    // Timers tick about every millisecond: start every call whose slot has come.
    const now = performance.now();
    for (; next < total && slot(next) <= now; next += 1) inFlight.push(one(slot(next)));
  }
  await Promise.all(inFlight);
  return result;
}

/** Prints rows as an aligned text table; numbers right-aligned. */
export function printTable(
  print: (line?: string) => void,
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): void {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return /^[0-9.,x-]+$/.test(cell) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ');
  print(line(cells[0] ?? []));
  print(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of cells.slice(1)) print(line(row));
}

/** A whole number with thousands separators, for counts and rates. */
export function formatCount(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

export function formatMs(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '-';
}

/** The cells every throughput table shares: calls, rate, p50, p99 and refusals. */
export function measurementCells(result: Measurement, refused: number): string[] {
  return [
    formatCount(result.count),
    formatCount(result.perSecond),
    formatMs(result.p50Ms),
    formatMs(result.p99Ms),
    formatCount(refused),
  ];
}
