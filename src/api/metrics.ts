/**
 * Prometheus metrics of the API process. Recharges happen in the worker, so their counts
 * are read from Postgres when scraped: one figure for the whole system, whichever process
 * made the charge.
 */
import { sql } from 'drizzle-orm';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../db/client';
import { RECHARGE_STATUSES, recharges } from '../db/schema';

export interface ApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly requestSeconds: Histogram<'method' | 'route'>;
  readonly debits: Counter<'status'>;
  readonly signalFailures: Counter;
}

async function rechargeCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ status: recharges.status, count: sql<string>`count(*)` })
    .from(recharges)
    .groupBy(recharges.status);
  return new Map(rows.map((row) => [row.status, Number(row.count)]));
}

export function createMetrics(db: Database): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'auto_reload_recharges',
    help: 'Recharges in Postgres by status (pending, succeeded, failed, action_required)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await rechargeCounts(db);
      for (const status of RECHARGE_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  });
  return {
    registry,
    requests: new Counter({
      name: 'auto_reload_http_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'auto_reload_http_request_duration_seconds',
      help: 'Time to answer an HTTP request',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    debits: new Counter({
      name: 'auto_reload_usage_debits_total',
      help: 'Usage events by outcome: debited, duplicate, insufficient_funds, merchant_not_found',
      labelNames: ['status'],
      registers: [registry],
    }),
    signalFailures: new Counter({
      name: 'auto_reload_balance_signal_failures_total',
      help: 'balanceChanged signals owed after a debit that could not be sent',
      registers: [registry],
    }),
  };
}
