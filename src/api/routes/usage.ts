/**
 * The SMS pipeline's hot path (SPEC 3.2): one usage event or a batch of up to 1000, each
 * one debit in one round trip to Postgres, then a `balanceChanged` signal when the debit
 * leaves the balance below the threshold. Also the balance, which the pipeline may read.
 */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import type { Currency } from '../../domain/currency';
import { type Micros, parseMoney } from '../../domain/money';
import { USAGE_KINDS, type UsageEvent } from '../../ledger/types';
import type { UsageResult } from '../../pipeline/usage-pipeline';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { money } from '../presenters';
import {
  ExternalId,
  MerchantId,
  MerchantParams,
  Money,
  MoneyOut,
  Strict,
  StringEnum,
  errorResponses,
} from '../schemas/common';

/** Largest batch, so that one request stays one reasonable round trip. */
export const MAX_BATCH_EVENTS = 1000;

const UsageKind = StringEnum(USAGE_KINDS, 'What the message was for');

const UsageFields = {
  id: ExternalId("The pipeline's own event id; the same id debits once"),
  amount: Money('Cost of the message, more than zero'),
  kind: UsageKind,
};

const Balance = Strict({
  balance: MoneyOut('Balance after the debit'),
  currency: Type.String(),
  ledgerSeq: Type.Integer(),
});

const GetBalance = {
  tags: ['usage'],
  summary: "Read a merchant's balance",
  params: MerchantParams,
  response: { 200: Balance, ...errorResponses(403, 404) },
};

const PostUsage = {
  tags: ['usage'],
  summary: 'Debit one usage event: 201 debited, 200 repeated id, 402 balance too low',
  params: MerchantParams,
  body: Strict(UsageFields),
  response: { 201: Balance, 200: Balance, ...errorResponses(402, 403, 404) },
};

const BatchResult = Strict({
  merchantId: Type.String(),
  id: Type.String(),
  status: StringEnum(['debited', 'duplicate', 'insufficient_funds', 'merchant_not_found']),
  balance: Type.Optional(MoneyOut('Balance after the debit, or the balance that refused it')),
  ledgerSeq: Type.Optional(Type.Integer()),
});

const PostBatch = {
  tags: ['usage'],
  summary: 'Debit up to 1000 usage events; one result per event, in order',
  body: Strict({
    events: Type.Array(Strict({ merchantId: MerchantId, ...UsageFields }), {
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
    }),
  }),
  response: { 200: Strict({ results: Type.Array(BatchResult) }), ...errorResponses(403) },
};

/** Usage of nothing is a pipeline bug, not a free message: refuse it before the ledger. */
function usageAmount(raw: string, field: string): Micros {
  const amount = parseMoney(raw);
  if (amount <= 0) {
    throw new ApiError('invalid_request', 'Usage amount must be more than zero', [
      { field, message: 'must be more than zero' },
    ]);
  }
  return amount;
}

function balanceOf(
  result: Exclude<UsageResult, { status: 'merchant_not_found' }>,
  currency: Currency,
) {
  return { balance: money(result.balance, currency), ledgerSeq: result.ledgerSeq };
}

/** One lookup per merchant of the batch, not one per event. */
async function currenciesOf(
  results: readonly UsageResult[],
  events: readonly UsageEvent[],
  cache: ApiDeps['currencies'],
): Promise<Map<string, Currency>> {
  const known = new Set<string>();
  results.forEach((result, index) => {
    const merchantId = events[index]?.merchantId;
    if (merchantId !== undefined && result.status !== 'merchant_not_found') known.add(merchantId);
  });
  const pairs = await Promise.all(
    [...known].map(async (merchantId) => [merchantId, await cache.of(merchantId)] as const),
  );
  return new Map(pairs);
}

export const usageRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const { ledger, pipeline } = deps.engine;
  const countDebit = (result: UsageResult) => deps.metrics.debits.inc({ status: result.status });

  app.get(
    '/v1/merchants/:id/balance',
    { schema: GetBalance, config: { access: ['admin', 'merchant', 'pipeline'] } },
    async (request) => {
      const state = await ledger.readBalance(request.params.id);
      if (state === null) throw new ApiError('merchant_not_found');
      const currency = await deps.currencies.of(request.params.id);
      return { balance: money(state.balance, currency), currency, ledgerSeq: state.ledgerSeq };
    },
  );

  app.post(
    '/v1/merchants/:id/usage',
    { schema: PostUsage, config: { access: ['pipeline'] } },
    async (request, reply) => {
      const merchantId = request.params.id;
      const { id, kind } = request.body;
      const amount = usageAmount(request.body.amount, 'body.amount');
      const currency = await deps.currencies.of(merchantId);
      const result = await pipeline.recordUsage({ merchantId, eventId: id, amount, kind });
      countDebit(result);
      if (result.status === 'merchant_not_found') throw new ApiError('merchant_not_found');
      if (result.status === 'insufficient_funds') {
        throw new ApiError('insufficient_funds', undefined, [
          { field: 'body.amount', message: `balance is ${money(result.balance, currency)}` },
        ]);
      }
      const status = result.status === 'debited' ? 201 : 200;
      return reply.code(status).send({ ...balanceOf(result, currency), currency });
    },
  );

  app.post(
    '/v1/usage/batch',
    { schema: PostBatch, config: { access: ['pipeline'] } },
    async (request) => {
      const events: UsageEvent[] = request.body.events.map((event, index) => ({
        merchantId: event.merchantId,
        eventId: event.id,
        amount: usageAmount(event.amount, `body.events.${index}.amount`),
        kind: event.kind,
      }));
      const results = await pipeline.recordUsageBatch(events);
      const currencies = await currenciesOf(results, events, deps.currencies);
      const answers = results.map((result, index) => {
        countDebit(result);
        const event = events[index] as UsageEvent;
        const answer = { merchantId: event.merchantId, id: event.eventId };
        if (result.status === 'merchant_not_found') return { ...answer, status: result.status };
        const currency = currencies.get(event.merchantId) ?? 'usd';
        return { ...answer, status: result.status, ...balanceOf(result, currency) };
      });
      return { results: answers };
    },
  );
  done();
};
