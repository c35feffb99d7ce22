/** Merchants: creation (admin), reading, saving a card, the notification endpoint. */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import { readMerchant } from '../../merchants/reads';
import { saveWebhookEndpoint } from '../../notifications/endpoints';
import { refusedAtSave } from '../../notifications/url-policy';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { money, presentMerchant } from '../presenters';
import {
  MerchantParams,
  MoneyOut,
  Nullable,
  Strict,
  StringEnum,
  errorResponses,
} from '../schemas/common';

const Currency = StringEnum(['usd', 'jpy'], 'usd by default');

const PaymentMethod = Strict({
  id: Type.String(),
  brand: Type.String(),
  last4: Type.String(),
  expMonth: Type.Integer(),
  expYear: Type.Integer(),
});

const Merchant = Strict({
  id: Type.String(),
  name: Type.String(),
  currency: Currency,
  billingCycleAnchor: Type.String({ format: 'date-time' }),
  balance: MoneyOut('Current balance'),
  ledgerSeq: Type.Integer(),
  stripeCustomerId: Nullable(Type.String()),
  paymentMethod: Nullable(PaymentMethod),
  createdAt: Type.String({ format: 'date-time' }),
});

const CreateMerchant = {
  tags: ['merchants'],
  summary: 'Create a merchant; its API key is answered once',
  body: Strict({
    name: Type.String({ minLength: 1, maxLength: 200 }),
    currency: Type.Optional(Currency),
    billingCycleAnchor: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'Start of the first billing cycle (UTC); now by default',
      }),
    ),
  }),
  response: {
    201: Strict({
      id: Type.String(),
      name: Type.String(),
      currency: Currency,
      billingCycleAnchor: Type.String({ format: 'date-time' }),
      apiKey: Type.String({ description: 'Shown only here; stored as a hash' }),
      balance: MoneyOut('Zero at creation'),
    }),
    ...errorResponses(403),
  },
};

const GetMerchant = {
  tags: ['merchants'],
  summary: 'Read a merchant, without its key',
  params: MerchantParams,
  response: { 200: Merchant, ...errorResponses(403, 404) },
};

const SavePaymentMethod = {
  tags: ['merchants'],
  summary: 'Save the card Auto Reload charges; clears payment_failed',
  params: MerchantParams,
  body: Strict({ paymentMethodId: Type.String({ minLength: 1, maxLength: 200 }) }),
  response: { 200: Strict({ paymentMethod: PaymentMethod }), ...errorResponses(403, 404) },
};

const SaveWebhookEndpoint = {
  tags: ['notifications'],
  summary: 'Where notifications go; answers the secret that signs them',
  params: MerchantParams,
  body: Strict({
    url: Type.String({ minLength: 1, maxLength: 2000, description: 'http or https URL' }),
  }),
  response: {
    200: Strict({ url: Type.String(), secret: Type.String() }),
    ...errorResponses(403, 404),
  },
};

/** Anchors from this range only: the format check passes a leap second or year 0001. */
const ANCHOR_YEARS = { first: 2000, last: 2100 };

function anchorOf(raw: string): Date {
  const anchor = new Date(raw);
  const year = anchor.getUTCFullYear();
  if (Number.isNaN(anchor.getTime()) || year < ANCHOR_YEARS.first || year > ANCHOR_YEARS.last) {
    const range = `${ANCHOR_YEARS.first} to ${ANCHOR_YEARS.last}`;
    throw new ApiError('invalid_request', `billingCycleAnchor must be an instant in ${range}`, [
      { field: 'body.billingCycleAnchor', message: `must be an instant in ${range}` },
    ]);
  }
  return anchor;
}

/**
 * Only absolute http(s) URLs (anything else could never receive a notification), and not
 * on our own network unless the deployment allows it.
 */
function webhookUrl(raw: string, allowPrivate: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError('invalid_request', 'url must be an absolute http or https URL', [
      { field: 'body.url', message: 'not a URL' },
    ]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError('invalid_request', 'url must be an absolute http or https URL', [
      { field: 'body.url', message: `scheme ${url.protocol} is not allowed` },
    ]);
  }
  const refused = allowPrivate ? null : refusedAtSave(url);
  if (refused !== null) {
    throw new ApiError('invalid_request', 'url must point at a public address', [
      { field: 'body.url', message: refused },
    ]);
  }
  return url.toString();
}

export const merchantRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  const { db } = deps.database;
  const { merchants } = deps.engine;

  app.post(
    '/v1/merchants',
    { schema: CreateMerchant, config: { access: ['admin'] } },
    async (request, reply) => {
      const { name, currency, billingCycleAnchor } = request.body;
      const created = await merchants.createMerchant({
        name,
        ...(currency && { currency }),
        ...(billingCycleAnchor && { billingCycleAnchor: anchorOf(billingCycleAnchor) }),
      });
      const merchantCurrency = currency ?? 'usd';
      deps.currencies.remember(created.id, merchantCurrency);
      request.log.info({ merchantId: created.id }, 'Merchant created');
      return reply.code(201).send({
        id: created.id,
        name: created.name,
        currency: merchantCurrency,
        billingCycleAnchor: created.billingCycleAnchor.toISOString(),
        apiKey: created.apiKey,
        balance: money(created.balance, merchantCurrency),
      });
    },
  );

  app.get(
    '/v1/merchants/:id',
    { schema: GetMerchant, config: { access: ['admin', 'merchant'] } },
    async (request) => {
      const merchant = await readMerchant(db, request.params.id);
      return presentMerchant(merchant, merchant.currency);
    },
  );

  app.put(
    '/v1/merchants/:id/payment-method',
    { schema: SavePaymentMethod, config: { access: ['admin', 'merchant'] } },
    async (request) => {
      await readMerchant(db, request.params.id);
      const paymentMethod = await merchants.savePaymentMethod(
        request.params.id,
        request.body.paymentMethodId,
      );
      request.log.info({ merchantId: request.params.id }, 'Payment method saved');
      return { paymentMethod };
    },
  );

  app.put(
    '/v1/merchants/:id/webhook-endpoint',
    { schema: SaveWebhookEndpoint, config: { access: ['admin', 'merchant'] } },
    async (request) => {
      const url = webhookUrl(request.body.url, deps.config.allowPrivateWebhookUrls);
      await readMerchant(db, request.params.id);
      return saveWebhookEndpoint(db, request.params.id, url);
    },
  );
  done();
};
