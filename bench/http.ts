/**
 * Usage debits through the REST API over real HTTP beside the ledger module, in one run:
 * closed loops of CALLERS clients sending single events and batches, then single debits on
 * a fixed open-loop timetable for latency. Goals: batch HTTP at least 0.5 of the module's
 * events per second; open-loop p99 under 20 ms.
 *
 * BENCH_HTTP_MODES (default child,inline) says where the API runs. 'child': its own
 * process, so the load generator's CPU does not compete in its event loop, as in
 * production where the pipeline is another machine. 'inline': this process. On 2 cores
 * neither is clean (child: load generator, API and Postgres share two cores; inline:
 * load generator and API share one event loop), so both are measured: they bracket the
 * API's cost. Other knobs: BENCH_SECONDS per closed-loop driver and workload,
 * BENCH_HTTP_SECONDS (open loop, default 10), BENCH_HTTP_RATE (default 1000/s),
 * BENCH_HTTP_POOL (Postgres connections of the API and of the module; default 10, what
 * startApi opens), BENCH_HTTP_PROFILE=dir (--cpu-prof of the child API into dir).
 */
import { Pool } from 'undici';
import { connect } from '../src/db/client';
import { createLedger } from '../src/ledger';
import {
  AMOUNT_TEXT,
  type Driver,
  failures,
  httpDriver,
  makeEvents,
  MODULE,
  moduleDriver,
} from './http-drivers';
import { type BenchApi, startBenchApi, startBenchApiProcess } from './http-server';
import {
  type BenchContext,
  formatCount,
  formatMs,
  type Measurement,
  measure,
  measurementCells,
  openLoop,
  type OpenLoopResult,
  percentiles,
  printTable,
  Recorder,
} from './support';

const MERCHANTS = 1_000;
const CALLERS = 64;
const BATCH_SIZES = [1, 100, 1_000] as const;
/** Turns each driver takes per workload; even, so each goes first equally often. */
const ROUNDS = 2;
const WARMUP_SECONDS = 2;
const OPEN_WARMUP_SECONDS = 2;
const OPEN_SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const OPEN_RATE = Number(process.env.BENCH_HTTP_RATE ?? 1_000);
const POOL = Number(process.env.BENCH_HTTP_POOL ?? 10);
const MODES = (process.env.BENCH_HTTP_MODES ?? 'child,inline').split(',');
const BATCH_RATIO_GOAL = 0.5;
const P99_GOAL_MS = 20;
/** 1,000,000 USD each: no run comes near it, so every debit is a real write. */
const OPENING_BALANCE = 1_000_000_000_000;

interface Row {
  readonly size: number;
  readonly driver: string;
  readonly result: Measurement;
  readonly refused: number;
}

/** Merchants with the API's id shape and no Auto Reload settings: no debit owes a signal. */
async function seed(databaseUrl: string): Promise<string[]> {
  const handle = connect(databaseUrl, { max: 1 });
  try {
    const rows = await handle.sql<{ id: string }[]>`
      insert into merchants (id, name, billing_cycle_anchor, balance, ledger_seq)
      select 'mer_' || lpad(to_hex(g), 16, '0'), 'HTTP bench merchant ' || g, now(),
        ${OPENING_BALANCE}, 1
      from generate_series(1, ${MERCHANTS}::int) g
      returning id`;
    const ids = rows.map((row) => row.id);
    // Only these merchants: the sections before this one left merchants of their own.
    await handle.sql`
      insert into ledger_entries (merchant_id, seq, kind, amount, balance_after, external_id)
      select id, 1, 'adjustment', balance, balance, 'opening-balance'
      from merchants where id = any(${ids})`;
    return ids;
  } finally {
    await handle.close();
  }
}

/**
 * Single debits until every merchant had one: connections open and prepared, code
 * compiled, every currency in the API's cache, as in a service that has run for a while.
 * Without it the first timed seconds measure the cache's misses and the JIT instead.
 */
async function warmUp(driver: Driver, merchants: readonly string[]): Promise<void> {
  let next = 0;
  const inTurn = (length: number) => next++ % length;
  do {
    await measure(CALLERS, WARMUP_SECONDS, () => driver.send(makeEvents(merchants, 1, inTurn)));
  } while (next < merchants.length);
}

/** One workload (batch size) for every driver, in alternating turns after a warm-up each. */
async function measureWorkload(
  ctx: BenchContext,
  merchants: readonly string[],
  size: number,
  drivers: readonly Driver[],
): Promise<Row[]> {
  const tallies = drivers.map((driver) => ({ driver, recorder: new Recorder(), refused: 0 }));
  const events = () => makeEvents(merchants, size);
  // One call each compiles the path; a full closed loop of big batches would take seconds.
  for (const { driver } of tallies) await driver.send(events());
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const tally of round % 2 === 0 ? tallies : [...tallies].reverse()) {
      await tally.recorder.run(CALLERS, ctx.seconds / ROUNDS, async () => {
        tally.refused += await tally.driver.send(events());
      });
    }
  }
  return tallies.map(({ driver, recorder, refused }) => {
    const result = recorder.result();
    const perSecond = result.perSecond * size;
    return { size, driver: driver.name, result: { ...result, perSecond }, refused };
  });
}

function printClosed(ctx: BenchContext, rows: readonly Row[]): void {
  const what = (size: number) => (size === 1 ? 'single' : `batch of ${size}`);
  printTable(
    ctx.print,
    ['workload', 'driver', 'calls', 'events/s', 'p50 ms', 'p99 ms', 'refused'],
    rows.map((row) => [what(row.size), row.driver, ...measurementCells(row.result, row.refused)]),
  );
  ctx.print('(calls: requests or ledger calls; p50/p99 per call)');
  ctx.print();
  const module = (size: number) =>
    rows.find((row) => row.size === size && row.driver === MODULE)?.result.perSecond;
  const ratios = rows
    .filter((row) => row.driver !== MODULE)
    .map((row) => {
      const ratio = row.result.perSecond / (module(row.size) ?? Number.NaN);
      const verdict = row.size === 1 ? '-' : ratio >= BATCH_RATIO_GOAL ? 'met' : 'NOT met';
      return [what(row.size), row.driver, Number.isFinite(ratio) ? ratio.toFixed(2) : '-', verdict];
    });
  printTable(ctx.print, ['workload', 'driver', 'http/module', 'goal'], ratios);
  ctx.print(`goal: batch HTTP / ledger module >= ${BATCH_RATIO_GOAL.toFixed(2)}`);
}

interface OpenRow extends OpenLoopResult {
  readonly driver: string;
  readonly refused: number;
}

function printOpen(ctx: BenchContext, results: readonly OpenRow[]): void {
  ctx.print();
  const rows = results.map(({ driver, refused, ...result }) => {
    const scheduled = percentiles(result.fromSlot);
    const sent = percentiles(result.fromStart);
    return [
      driver,
      formatCount(result.fromSlot.length),
      formatCount(refused),
      formatMs(scheduled.p50),
      formatMs(scheduled.p99),
      formatMs(sent.p50),
      formatMs(sent.p99),
      formatMs(percentiles(result.lag).p99),
      driver === MODULE ? '-' : scheduled.p99 < P99_GOAL_MS ? 'met' : 'NOT met',
    ];
  });
  printTable(
    ctx.print,
    ['driver', 'debits', 'refused', 'p50 ms', 'p99 ms', 'p50 sent', 'p99 sent', 'p99 lag', 'goal'],
    rows,
  );
  ctx.print(
    `(open loop: ${OPEN_RATE}/s for ${OPEN_SECONDS} s after ${OPEN_WARMUP_SECONDS} s of ` +
      'warm-up; p50/p99 from each slot in the timetable, "sent" from the actual send, lag = ' +
      'send - slot; the ledger module row is the floor: the same debits without HTTP)',
  );
  ctx.print(`goal: p99 from the timetable < ${P99_GOAL_MS} ms`);
}

/** Single debits in an open loop per driver, each after a warm-up at the same rate. */
async function measureOpen(merchants: readonly string[], drivers: readonly Driver[]) {
  const rows: OpenRow[] = [];
  for (const driver of drivers) {
    let refused = 0;
    const send = async () => {
      refused += await driver.send(makeEvents(merchants, 1));
    };
    await openLoop(OPEN_RATE, OPEN_WARMUP_SECONDS, send);
    refused = 0;
    const result = await openLoop(OPEN_RATE, OPEN_SECONDS, send);
    rows.push({ driver: driver.name, ...result, refused });
  }
  return rows;
}

/** Starts the APIs of MODES into `apis`, as it goes, so that the caller closes any started. */
async function startApis(databaseUrl: string, apis: Map<string, BenchApi>): Promise<void> {
  const profileDir = process.env.BENCH_HTTP_PROFILE;
  const profile = profileDir ? { profileDir } : {};
  for (const mode of MODES) {
    if (mode !== 'child' && mode !== 'inline') throw new Error(`BENCH_HTTP_MODES: ${mode}?`);
    const api =
      mode === 'child'
        ? await startBenchApiProcess({ databaseUrl, pool: POOL, ...profile })
        : await startBenchApi({ databaseUrl, pool: POOL });
    apis.set(`http ${mode}`, api);
  }
}

/** The http section of `npm run bench`. */
export async function benchHttp(ctx: BenchContext): Promise<void> {
  if (!(OPEN_SECONDS > 0 && OPEN_RATE > 0 && POOL > 0)) {
    throw new Error('BENCH_HTTP_SECONDS, BENCH_HTTP_RATE and BENCH_HTTP_POOL must be positive');
  }
  const merchants = await seed(ctx.databaseUrl);
  ctx.print(
    `usage debits of ${AMOUNT_TEXT} over ${MERCHANTS} merchants without Auto Reload; ` +
      `${CALLERS} callers; ${ctx.seconds} s per driver and workload in ${ROUNDS} turns`,
  );
  ctx.print(
    `API and module: ${POOL} Postgres connections each; HTTP: undici Pool of ${CALLERS} ` +
      'keep-alive connections to 127.0.0.1; API modes: ' +
      MODES.join(', '),
  );
  const handle = connect(ctx.databaseUrl, { max: POOL });
  const apis = new Map<string, BenchApi>();
  const pools: Pool[] = [];
  try {
    await startApis(ctx.databaseUrl, apis);
    const drivers = [moduleDriver(createLedger(handle))];
    for (const [name, api] of apis) {
      const pool = new Pool(api.url, { connections: CALLERS, keepAliveTimeout: 60_000 });
      pools.push(pool);
      drivers.push(httpDriver(name, pool));
    }
    for (const driver of drivers) await warmUp(driver, merchants);
    const rows: Row[] = [];
    for (const size of BATCH_SIZES)
      rows.push(...(await measureWorkload(ctx, merchants, size, drivers)));
    ctx.print();
    printClosed(ctx, rows);
    printOpen(ctx, await measureOpen(merchants, drivers));
    for (const [name, failure] of failures) ctx.print(`first failure of ${name}: ${failure}`);
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    for (const api of apis.values()) await api.close();
    await handle.close();
  }
}
