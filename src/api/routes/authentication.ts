/**
 * What the merchant's own page needs when the bank asks the cardholder to authenticate a
 * recharge (status `action_required`): the PaymentIntent and its client secret, with which
 * Stripe.js confirms the payment on-session. Stripe's `payment_intent.succeeded` webhook
 * then credits it. Only the merchant's own key may read the secret.
 */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import { readMerchant, rechargeAwaitingAuthentication } from '../../merchants/reads';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { money } from '../presenters';
import { MerchantParams, MoneyOut, Strict, errorResponses } from '../schemas/common';

const GetAuthentication = {
  tags: ['auto-reload'],
  summary: 'The recharge waiting for the cardholder, with the client secret to confirm it',
  params: MerchantParams,
  response: {
    200: Strict({
      rechargeId: Type.String(),
      paymentIntentId: Type.String(),
      amount: MoneyOut('The recharge to confirm'),
      currency: Type.String(),
      status: Type.String({ description: "The PaymentIntent's status at Stripe" }),
      clientSecret: Type.String({
        description: 'For Stripe.js on the merchant page; keep private',
      }),
    }),
    ...errorResponses(403, 404),
  },
};

export const authenticationRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  app.get(
    '/v1/merchants/:id/auto-reload/authentication',
    { schema: GetAuthentication, config: { access: ['merchant'] } },
    async (request) => {
      const merchantId = request.params.id;
      const { currency } = await readMerchant(deps.database.db, merchantId);
      const recharge = await rechargeAwaitingAuthentication(deps.database.db, merchantId);
      if (recharge?.paymentIntentId == null) throw new ApiError('nothing_to_authenticate');
      const intent = await deps.stripe.paymentIntents.retrieve(recharge.paymentIntentId);
      if (intent.client_secret === null) throw new ApiError('nothing_to_authenticate');
      return {
        rechargeId: recharge.id,
        paymentIntentId: intent.id,
        amount: money(recharge.amount, currency),
        currency,
        status: intent.status,
        clientSecret: intent.client_secret,
      };
    },
  );
  done();
};
