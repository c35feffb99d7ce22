import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Stripe from 'stripe';
import { classifyStripeError, failureDetails } from '../src/activities/stripe-failures';

type Raw = ConstructorParameters<typeof Stripe.errors.StripeError>[0];
const card = (raw: Raw) => new Stripe.errors.StripeCardError({ statusCode: 402, ...raw });

describe('classifyStripeError', () => {
  const cases: Array<[string, unknown, string]> = [
    [
      'a dropped connection',
      new Stripe.errors.StripeConnectionError({ message: 'socket hang up' }),
      'transient',
    ],
    ['a 500', new Stripe.errors.StripeAPIError({ statusCode: 500 }), 'transient'],
    ['a 429', new Stripe.errors.StripeRateLimitError({ statusCode: 429 }), 'transient'],
    [
      'lock_timeout',
      new Stripe.errors.StripeInvalidRequestError({ statusCode: 400, code: 'lock_timeout' }),
      'transient',
    ],
    [
      'idempotency_key_in_use',
      new Stripe.errors.StripeInvalidRequestError({
        statusCode: 409,
        code: 'idempotency_key_in_use',
      }),
      'transient',
    ],
    ['an error from outside Stripe', new Error('ECONNRESET'), 'transient'],
    [
      'insufficient_funds',
      card({ code: 'card_declined', decline_code: 'insufficient_funds' }),
      'soft_decline',
    ],
    [
      'try_again_later',
      card({ code: 'card_declined', decline_code: 'try_again_later' }),
      'soft_decline',
    ],
    ['processing_error', card({ code: 'processing_error' }), 'soft_decline'],
    ['lost_card', card({ code: 'card_declined', decline_code: 'lost_card' }), 'hard_decline'],
    ['stolen_card', card({ code: 'card_declined', decline_code: 'stolen_card' }), 'hard_decline'],
    ['expired_card', card({ code: 'expired_card' }), 'hard_decline'],
    ['incorrect_cvc', card({ code: 'incorrect_cvc' }), 'hard_decline'],
    // Retried once; the retry schedule (domain/dunning) makes a second one final.
    [
      'generic_decline',
      card({ code: 'card_declined', decline_code: 'generic_decline' }),
      'soft_decline',
    ],
    [
      'authentication_required',
      card({ code: 'authentication_required', decline_code: 'authentication_required' }),
      'authentication_required',
    ],
    [
      'a bad API key',
      new Stripe.errors.StripeAuthenticationError({ statusCode: 401 }),
      'configuration',
    ],
    [
      'a forbidden key',
      new Stripe.errors.StripePermissionError({ statusCode: 403 }),
      'configuration',
    ],
    [
      'a missing customer',
      new Stripe.errors.StripeInvalidRequestError({ statusCode: 404, code: 'resource_missing' }),
      'configuration',
    ],
    [
      'an idempotency mismatch',
      new Stripe.errors.StripeIdempotencyError({ statusCode: 400 }),
      'configuration',
    ],
  ];
  for (const [name, error, expected] of cases) {
    test(`classifies ${name} as ${expected}`, () => {
      assert.equal(classifyStripeError(error), expected);
    });
  }
});

describe('failureDetails', () => {
  test('keeps the codes and the PaymentIntent id of a decline', () => {
    const error = card({
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
      payment_intent: { id: 'pi_123' } as Stripe.PaymentIntent,
    });
    assert.deepEqual(failureDetails(error), {
      code: 'card_declined',
      declineCode: 'insufficient_funds',
      paymentIntentId: 'pi_123',
      message: 'Your card has insufficient funds.',
    });
  });
});
