/** The ledger as the merchant reads it, and the admin's manual credits. */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import { type Micros, formatMoney, parseMoney } from '../../domain/money';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { money, presentLedgerEntry } from '../presenters';
import {
  ExternalId,
  MerchantParams,
  Money,
  MoneyOut,
  Nullable,
  PageQuery,
  Strict,
  errorResponses,
} from '../schemas/common';
import { pageRequest } from './paging';

/**
 * Largest manual credit: far above any prepaid SMS balance, and far below the 9 billion
 * that balances may reach before they stop being exact JavaScript numbers.
 */
const MAX_CREDIT = 1_000_000_000_000 as Micros;

const LedgerEntry = Strict({
  seq: Type.Integer(),
  kind: Type.String({ description: 'usage, recharge, manual_credit or adjustment' }),
  amount: MoneyOut('Signed: debits are negative'),
  balanceAfter: MoneyOut('Balance after this entry'),
  id: Type.String({ description: 'Usage event id, PaymentIntent id or credit id' }),
  description: Nullable(Type.String()),
  rechargeId: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});

const ListLedger = {
  tags: ['ledger'],
  summary: 'Ledger entries, newest first',
  params: MerchantParams,
  querystring: PageQuery,
  response: {
    200: Strict({ data: Type.Array(LedgerEntry), nextCursor: Nullable(Type.String()) }),
    ...errorResponses(403, 404),
  },
};

const Credit = Strict({
  balance: MoneyOut('Balance after the credit'),
  currency: Type.String(),
  ledgerSeq: Type.Integer(),
});

const PostCredit = {
  tags: ['ledger'],
  summary: 'Manual credit: 201 credited, 200 when the id was credited before',
  params: MerchantParams,
  body: Strict({
    id: ExternalId('Your id for this credit; the same id credits once'),
    amount: Money('More than zero'),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
  }),
  response: { 201: Credit, 200: Credit, ...errorResponses(403, 404) },
};

export const ledgerRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const { ledger } = deps.engine;

  app.get(
    '/v1/merchants/:id/ledger',
    { schema: ListLedger, config: { access: ['admin', 'merchant'] } },
    async (request) => {
      const currency = await deps.currencies.of(request.params.id);
      const page = await ledger.listLedger(request.params.id, pageRequest(request.query));
      return {
        data: page.data.map((entry) => presentLedgerEntry(entry, currency)),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.post(
    '/v1/merchants/:id/credits',
    { schema: PostCredit, config: { access: ['admin'] } },
    async (request, reply) => {
      const merchantId = request.params.id;
      const amount = parseMoney(request.body.amount);
      if (amount <= 0 || amount > MAX_CREDIT) {
        const message = `must be more than zero and at most ${formatMoney(MAX_CREDIT)}`;
        throw new ApiError('invalid_request', `A credit ${message}`, [
          { field: 'body.amount', message },
        ]);
      }
      const currency = await deps.currencies.of(merchantId);
      const result = await ledger.creditManual({
        merchantId,
        creditId: request.body.id,
        amount,
        reason: request.body.reason,
      });
      if (result.credited) request.log.info({ merchantId, amount }, 'Manual credit applied');
      return reply.code(result.credited ? 201 : 200).send({
        balance: money(result.balance, currency),
        currency,
        ledgerSeq: result.ledgerSeq,
      });
    },
  );
  done();
};
