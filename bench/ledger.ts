/**
 * Usage debits per second through the ledger module, through the bare postgres.js driver
 * running the module's own statement text, and through pgbench running it too, against the
 * same scratch database. The module/bare ratio is the cost of the module's wrapping
 * (validation, retry guard, row mapping); the goal is at least 0.7.
 *
 * Each level of callers gets a pool of exactly that many connections (as pgbench gets that
 * many clients); module and bare share it and take turns, and pgbench runs right after, so
 * the three figures of a row were measured under the same conditions.
 */
import type postgres from 'postgres';
import { connect } from '../src/db/client';
import { micros } from '../src/domain/money';
import { createLedger } from '../src/ledger';
import { DEBIT_USAGE_SQL } from '../src/ledger/statements';
import {
  type BenchContext,
  formatCount,
  formatMs,
  type Measurement,
  measure,
  measurementCells,
  printTable,
  Recorder,
} from './support';
import { pgbenchVersion, runPgbench, withDebitScript } from './pgbench';

const MERCHANTS = 1_000;
const CALLERS = [1, 8, 64] as const;
/** Turns module and bare take at each level; even, so each goes first equally often. */
const ROUNDS = 4;
const WARMUP_SECONDS = 0.3;
const BATCH_SIZE = 100;
const BATCH_CALLERS = 8;
/** One SMS at 0.0075 USD. */
const AMOUNT = micros(7_500);
/** 1,000,000 USD each: no run comes near it, so every debit is a real write. */
const OPENING_BALANCE = 1_000_000_000_000;

interface Scenario {
  readonly name: string;
  /** Merchant ids are the numbers first..last as text, so pgbench can pick them too. */
  readonly first: number;
  readonly last: number;
}

/** Many merchants is the realistic load; one merchant shows the cost of its row lock. */
const SCENARIOS: readonly Scenario[] = [
  { name: `${MERCHANTS} merchants`, first: 1, last: MERCHANTS },
  { name: 'one merchant', first: 1, last: 1 },
];

type Driver = 'module' | 'bare' | 'pgbench';
/** Debits one event; true when it was debited. */
type Debit = (merchantId: string, eventId: string) => Promise<boolean>;

interface Row {
  readonly scenario: string;
  readonly driver: Driver;
  readonly callers: number;
  readonly result: Measurement;
  /** Answers other than `debited` (pgbench: failed transactions); expected 0. */
  readonly refused: number;
}

async function seed(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into merchants (id, name, billing_cycle_anchor, balance, ledger_seq)
    select g::text, 'Bench merchant ' || g, now(), ${OPENING_BALANCE}, 1
    from generate_series(1, ${MERCHANTS}::int) g`;
  await sql`
    insert into ledger_entries (merchant_id, seq, kind, amount, balance_after, external_id)
    select g::text, 1, 'adjustment', ${OPENING_BALANCE}, ${OPENING_BALANCE}, 'opening-balance'
    from generate_series(1, ${MERCHANTS}::int) g`;
  // Half the merchants have settings, so the statement's left join finds both cases.
  await sql`
    insert into auto_reload_settings (merchant_id, enabled, mode, threshold, amount, max_per_cycle)
    select g::text, true, 'fixed', 5000000, 20000000, 100000000
    from generate_series(1, ${MERCHANTS}::int, 2) g`;
}

function pick(scenario: Scenario): string {
  const span = scenario.last - scenario.first + 1;
  return String(scenario.first + Math.floor(Math.random() * span));
}

let eventCounter = 0;
/** Unique in the process; pgbench's ids are bare numbers, so they never meet these. */
function nextEventId(): string {
  eventCounter += 1;
  return `ev-${eventCounter}`;
}

/** The two Node drivers over one pool: both hit the same prepared statement. */
function nodeDrivers(sql: postgres.Sql): Record<'module' | 'bare', Debit> {
  const ledger = createLedger(sql);
  return {
    module: async (merchantId, eventId) => {
      const result = await ledger.debitUsage({ merchantId, eventId, amount: AMOUNT, kind: 'chat' });
      return result.status === 'debited';
    },
    bare: async (merchantId, eventId) => {
      const params = [merchantId, eventId, AMOUNT, 'chat'];
      const rows = await sql.unsafe<{ status: string }[]>(DEBIT_USAGE_SQL, params, {
        prepare: true,
      });
      return rows[0]?.status === 'debited';
    },
  };
}

/** Module and bare at one level of callers, taking turns over ROUNDS rounds. */
async function measureNode(ctx: BenchContext, scenario: Scenario, callers: number): Promise<Row[]> {
  const handle = connect(ctx.databaseUrl, { max: callers });
  try {
    const drivers = nodeDrivers(handle.sql);
    const tally = {
      module: { recorder: new Recorder(), refused: 0 },
      bare: { recorder: new Recorder(), refused: 0 },
    };
    // Opens every connection and prepares the statement on each before anything is timed.
    await measure(callers, WARMUP_SECONDS, () => drivers.bare(pick(scenario), nextEventId()));

    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? (['module', 'bare'] as const) : (['bare', 'module'] as const);
      for (const driver of order) {
        const { recorder } = tally[driver];
        await recorder.run(callers, ctx.seconds / ROUNDS, async () => {
          if (!(await drivers[driver](pick(scenario), nextEventId()))) tally[driver].refused += 1;
        });
      }
    }
    return (['module', 'bare'] as const).map((driver) => ({
      scenario: scenario.name,
      driver,
      callers,
      result: tally[driver].recorder.result(),
      refused: tally[driver].refused,
    }));
  } finally {
    await handle.close();
  }
}

/** Events per second of `debitUsageBatch`, batches of random merchants. */
async function measureBatches(ctx: BenchContext): Promise<Measurement> {
  const scenario = SCENARIOS[0] as Scenario;
  const handle = connect(ctx.databaseUrl, { max: BATCH_CALLERS });
  try {
    const ledger = createLedger(handle);
    const result = await measure(BATCH_CALLERS, ctx.seconds, () =>
      ledger.debitUsageBatch(
        Array.from({ length: BATCH_SIZE }, () => ({
          merchantId: pick(scenario),
          eventId: nextEventId(),
          amount: AMOUNT,
          kind: 'chat' as const,
        })),
      ),
    );
    return {
      ...result,
      count: result.count * BATCH_SIZE,
      perSecond: result.perSecond * BATCH_SIZE,
    };
  } finally {
    await handle.close();
  }
}

/** A failed pgbench run (too many connections, say) costs its row, not the whole bench. */
async function measurePgbench(
  ctx: BenchContext,
  script: string,
  scenario: Scenario,
  callers: number,
): Promise<Row[]> {
  try {
    const { failed, ...result } = await runPgbench({
      databaseUrl: ctx.databaseUrl,
      script,
      clients: callers,
      seconds: ctx.seconds,
      first: scenario.first,
      last: scenario.last,
      amount: AMOUNT,
    });
    return [{ scenario: scenario.name, driver: 'pgbench', callers, result, refused: failed }];
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    ctx.print(`pgbench failed, row skipped: ${reason ?? ''}`);
    return [];
  }
}

function printResults(ctx: BenchContext, rows: readonly Row[]): void {
  ctx.print();
  printTable(
    ctx.print,
    ['scenario', 'driver', 'callers', 'debits', 'debits/s', 'p50 ms', 'p99 ms', 'refused'],
    rows.map((row) => [
      row.scenario,
      row.driver,
      row.callers,
      ...measurementCells(row.result, row.refused),
    ]),
  );
  ctx.print('(pgbench: the p50 column holds its average latency; it reports no p99)');

  const rate = (scenario: string, driver: Driver, callers: number) =>
    rows.find(
      (row) => row.scenario === scenario && row.driver === driver && row.callers === callers,
    )?.result.perSecond ?? Number.NaN;
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');
  ctx.print();
  printTable(
    ctx.print,
    ['scenario', 'callers', 'module/bare', 'module/pgbench', 'bare/pgbench'],
    SCENARIOS.flatMap((scenario) =>
      CALLERS.map((callers) => {
        const [module = 0, bare = 0, pgbench = 0] = (['module', 'bare', 'pgbench'] as const).map(
          (driver) => rate(scenario.name, driver, callers),
        );
        return [
          scenario.name,
          callers,
          ratio(module, bare),
          ratio(module, pgbench),
          ratio(bare, pgbench),
        ];
      }),
    ),
  );
  ctx.print('goal: module/bare >= 0.70');
}

/** After thousands of concurrent debits, the hot merchant's ledger must still add up. */
async function printInvariants(ctx: BenchContext): Promise<void> {
  const handle = connect(ctx.databaseUrl, { max: 1 });
  try {
    const report = await createLedger(handle).checkInvariants('1');
    const verdict = report.violations.length === 0 ? 'ok' : report.violations.join('; ');
    ctx.print(`invariants of the hot merchant (${report.entries} entries): ${verdict}`);
  } finally {
    await handle.close();
  }
}

/** The ledger section of `npm run bench`. */
export async function benchLedger(ctx: BenchContext): Promise<void> {
  const setup = connect(ctx.databaseUrl, { max: 1 });
  try {
    await seed(setup.sql);
  } finally {
    await setup.close();
  }
  const pgbench = await pgbenchVersion();
  ctx.print(
    `usage debits of ${AMOUNT} micros over ${MERCHANTS} merchants or one; ` +
      `${ctx.seconds} s per driver and level, module and bare in ${ROUNDS} alternating turns`,
  );
  ctx.print(
    pgbench === null
      ? 'pgbench: not found on PATH, skipped (install postgresql-client to compare)'
      : `pgbench: ${pgbench}, -M prepared, the same statement text`,
  );

  const rows: Row[] = [];
  await withDebitScript(async (script) => {
    for (const scenario of SCENARIOS) {
      for (const callers of CALLERS) {
        rows.push(...(await measureNode(ctx, scenario, callers)));
        // The Node pool is closed by now, so pgbench's clients fit under max_connections.
        if (pgbench === null) continue;
        rows.push(...(await measurePgbench(ctx, script, scenario, callers)));
      }
    }
  });
  const batch = await measureBatches(ctx);

  printResults(ctx, rows);
  ctx.print(
    `batch: ${formatCount(batch.perSecond)} events/s, ${BATCH_CALLERS} callers sending ` +
      `${BATCH_SIZE} events per batch (p50 ${formatMs(batch.p50Ms)} ms per batch)`,
  );
  await printInvariants(ctx);
}
