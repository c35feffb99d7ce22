/**
 * Runs the API: connects to Postgres, Temporal and Stripe, builds the app and listens.
 * `close()` stops taking connections, lets requests in progress finish, then closes the
 * connections it opened.
 */
import { Client, Connection } from '@temporalio/client';
import type { AppConfig } from '../config';
import { connect } from '../db/client';
import { createEngine } from '../engine';
import { type Logger, logger as defaultLogger } from '../logger';
import { createStripeClient } from '../stripe/client';
import { type ApiApp, buildApp } from './app';
import { createCurrencyCache } from './deps';
import { createMetrics } from './metrics';

export interface RunningApi {
  readonly url: string;
  readonly app: ApiApp;
  close(): Promise<void>;
}

export interface StartApiOptions {
  readonly config: AppConfig;
  /** Overrides `config.api.port`; 0 picks a free port. */
  readonly port?: number;
  readonly log?: Logger;
}

export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const { config } = options;
  const log = options.log ?? defaultLogger;
  const database = connect(config.databaseUrl);
  const connection = await Connection.connect({ address: config.temporalAddress });
  const temporal = new Client({ connection, namespace: config.temporalNamespace });
  const stripe = createStripeClient(config.stripe);
  const metrics = createMetrics(database.db);
  const engine = createEngine({
    database,
    stripe,
    temporal,
    taskQueue: config.taskQueue,
    log,
    onSignalFailure: () => metrics.signalFailures.inc(),
  });
  const app = await buildApp({
    engine,
    database,
    stripe,
    temporal,
    config: config.api,
    log,
    metrics,
    currencies: createCurrencyCache(database),
  });

  const address = await app.listen({
    host: config.api.host,
    port: options.port ?? config.api.port,
  });
  return {
    url: address,
    app,
    async close() {
      await app.close();
      await connection.close();
      await database.close();
    },
  };
}
