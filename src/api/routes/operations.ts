/** For load balancers and operators: liveness, readiness and Prometheus metrics. */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../deps';
import { Strict, StringEnum } from '../schemas/common';

/** A dependency that does not answer within this is reported down. */
const READINESS_TIMEOUT_MS = 2_000;

const Check = StringEnum(['up', 'down']);

const Readiness = Strict({
  status: StringEnum(['ready', 'not_ready']),
  checks: Strict({ postgres: Check, temporal: Check }),
});

async function isUp(check: () => Promise<unknown>): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READINESS_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    // The answer itself reports the failure; the caller logs which check failed.
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export const operationsRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const publicRoute = { access: 'public' as const };

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: { 200: Strict({ status: Type.Literal('ok') }) },
      },
      config: publicRoute,
      logLevel: 'warn',
    },
    (_request, reply) => {
      void reply.send({ status: 'ok' as const });
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: Postgres and Temporal answer; 503 otherwise',
        response: { 200: Readiness, 503: Readiness },
      },
      config: publicRoute,
      logLevel: 'warn',
    },
    async (request, reply) => {
      const [postgres, temporal] = await Promise.all([
        isUp(() => deps.database.sql`select 1`),
        isUp(() => deps.temporal.workflowService.getSystemInfo({})),
      ]);
      const ready = postgres === 'up' && temporal === 'up';
      if (!ready) request.log.warn({ postgres, temporal }, 'Not ready');
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal } });
    },
  );

  app.get(
    '/metrics',
    {
      schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false },
      config: publicRoute,
      logLevel: 'warn',
    },
    async (_request, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
  done();
};
