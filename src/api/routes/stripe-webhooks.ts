/**
 * Stripe's webhooks (SPEC 3.6): the signature is checked over the exact raw bytes, each
 * event is handled once by its id, and PaymentIntent outcomes reach the merchant's
 * workflow as signals. The event id is recorded in the same transaction that sends the
 * signal, so a failed signal leaves the event unrecorded and Stripe's retry handles it.
 */
import { type FastifyPluginCallbackTypebox, Type } from '@fastify/type-provider-typebox';
import type Stripe from 'stripe';
import { fromMinorUnits } from '../../domain/currency';
import { stripeEvents } from '../../db/schema';
import { UnknownMerchantError } from '../../merchants/reads';
import type { PaymentIntentEvent } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { ApiError } from '../errors';
import { Strict, StringEnum } from '../schemas/common';

const HANDLED_TYPES = ['payment_intent.succeeded', 'payment_intent.payment_failed'] as const;
type HandledType = (typeof HANDLED_TYPES)[number];

const isHandled = (type: string): type is HandledType =>
  (HANDLED_TYPES as readonly string[]).includes(type);

const Received = Strict({
  received: Type.Boolean(),
  outcome: StringEnum(['signalled', 'duplicate', 'ignored'], 'What became of the event'),
});

const PostWebhook = {
  tags: ['stripe'],
  summary: 'Signed Stripe events (payment_intent.succeeded, payment_intent.payment_failed)',
  response: { 200: Received },
};

type Outcome = 'signalled' | 'duplicate' | 'ignored';

export const stripeWebhookRoutes: FastifyPluginCallbackTypebox<{ deps: ApiDeps }> = (
  app,
  { deps },
  done,
) => {
  // Only this plugin sees raw bodies: the signature covers the exact bytes Stripe sent.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  function verify(rawBody: unknown, signature: string | string[] | undefined): Stripe.Event {
    const secret = deps.config.stripeWebhookSecret;
    if (secret === undefined) {
      throw new ApiError('service_unavailable', 'STRIPE_WEBHOOK_SECRET is not configured');
    }
    if (!Buffer.isBuffer(rawBody) || typeof signature !== 'string') {
      throw new ApiError('invalid_signature', 'Expected a JSON body and a Stripe-Signature');
    }
    try {
      return deps.stripe.webhooks.constructEvent(rawBody, signature, secret);
    } catch (error) {
      throw new ApiError('invalid_signature', undefined, [], { cause: error });
    }
  }

  async function paymentIntentEvent(
    event: Stripe.Event,
    type: HandledType,
  ): Promise<{ merchantId: string; signal: PaymentIntentEvent } | null> {
    const intent = event.data.object as Stripe.PaymentIntent;
    const merchantId = intent.metadata?.merchant_id;
    const rechargeId = intent.metadata?.recharge_id;
    // Not one of our recharges (another integration on the same Stripe account).
    if (!merchantId || !rechargeId) return null;
    const currency = await deps.currencies.of(merchantId);
    const error = intent.last_payment_error;
    return {
      merchantId,
      signal: {
        eventId: event.id,
        type,
        paymentIntentId: intent.id,
        rechargeId,
        amount: fromMinorUnits(intent.amount, currency),
        code: error?.code ?? null,
        declineCode: error?.decline_code ?? null,
      },
    };
  }

  async function handle(event: Stripe.Event): Promise<Outcome> {
    if (!isHandled(event.type)) return 'ignored';
    const found = await paymentIntentEvent(event, event.type);
    if (found === null) return 'ignored';
    const { merchantId, signal } = found;
    return deps.database.db.transaction(async (tx) => {
      const recorded = await tx
        .insert(stripeEvents)
        .values({
          id: event.id,
          type: event.type,
          paymentIntentId: signal.paymentIntentId,
          merchantId,
        })
        .onConflictDoNothing()
        .returning({ id: stripeEvents.id });
      if (recorded.length === 0) return 'duplicate';
      await deps.engine.workflows.signalPaymentIntentEvent(merchantId, signal);
      return 'signalled';
    });
  }

  app.post(
    '/v1/stripe/webhooks',
    { schema: PostWebhook, config: { access: 'public' } },
    async (request) => {
      const event = verify(request.body, request.headers['stripe-signature']);
      let outcome: Outcome;
      try {
        outcome = await handle(event);
      } catch (error) {
        if (!(error instanceof UnknownMerchantError)) throw error;
        request.log.warn({ eventId: event.id }, 'Stripe event names an unknown merchant');
        outcome = 'ignored';
      }
      request.log.info({ eventId: event.id, type: event.type, outcome }, 'Stripe event received');
      return { received: true, outcome };
    },
  );
  done();
};
