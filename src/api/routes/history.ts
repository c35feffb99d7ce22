/** What Auto Reload did: the merchant's recharges and its decision log (SPEC 3.4). */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import { RECHARGE_STATUSES } from '../../db/schema';
import { listDecisions, listRecharges } from '../../merchants/reads';
import type { ApiDeps } from '../deps';
import { presentDecision, presentRecharge } from '../presenters';
import {
  MerchantParams,
  MoneyOut,
  Nullable,
  PageQuery,
  Strict,
  StringEnum,
  errorResponses,
} from '../schemas/common';
import { pageRequest } from './paging';

const Recharge = Strict({
  id: Type.String(),
  amount: MoneyOut('Charged'),
  status: StringEnum(RECHARGE_STATUSES),
  createdAt: Type.String({ format: 'date-time' }),
  paymentIntentId: Nullable(Type.String()),
  failure: Nullable(
    Strict({
      code: Nullable(Type.String()),
      declineCode: Nullable(Type.String()),
      message: Nullable(Type.String()),
    }),
  ),
});

const Decision = Strict({
  id: Type.String(),
  outcome: Type.String({ description: 'charged, skipped, failed or resumed' }),
  reason: Nullable(Type.String({ description: 'Why a recharge was skipped' })),
  rechargeId: Nullable(Type.String()),
  amount: Nullable(MoneyOut('Charged or attempted')),
  balance: MoneyOut('Balance the decision was made on'),
  threshold: MoneyOut('Threshold at the time'),
  cycleKey: Type.String(),
  cycleTotal: MoneyOut('Cycle total at the time'),
  maxPerCycle: MoneyOut('Cap at the time'),
  status: Type.String({ description: 'Auto Reload status after the decision' }),
  failure: Nullable(
    Strict({ code: Nullable(Type.String()), declineCode: Nullable(Type.String()) }),
  ),
  createdAt: Type.String({ format: 'date-time' }),
});

const page = <T extends ReturnType<typeof Strict>>(item: T) =>
  Strict({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });

const ListRecharges = {
  tags: ['auto-reload'],
  summary: 'Recharges, newest first',
  params: MerchantParams,
  querystring: PageQuery,
  response: { 200: page(Recharge), ...errorResponses(403, 404) },
};

const ListDecisions = {
  tags: ['auto-reload'],
  summary: 'The decision log: every charge, skip and failure with its reason, newest first',
  params: MerchantParams,
  querystring: PageQuery,
  response: { 200: page(Decision), ...errorResponses(403, 404) },
};

export const historyRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const { db } = deps.database;
  const access = { access: ['admin', 'merchant'] as const };

  app.get('/v1/merchants/:id/recharges', { schema: ListRecharges, config: access }, async (r) => {
    const currency = await deps.currencies.of(r.params.id);
    const { data, nextCursor } = await listRecharges(db, r.params.id, pageRequest(r.query));
    return { data: data.map((row) => presentRecharge(row, currency)), nextCursor };
  });

  app.get(
    '/v1/merchants/:id/auto-reload/events',
    { schema: ListDecisions, config: access },
    async (r) => {
      const currency = await deps.currencies.of(r.params.id);
      const { data, nextCursor } = await listDecisions(db, r.params.id, pageRequest(r.query));
      return { data: data.map((row) => presentDecision(row, currency)), nextCursor };
    },
  );
  done();
};
