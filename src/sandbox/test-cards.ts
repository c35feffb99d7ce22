import { createHash } from 'node:crypto';

/** What happens when a PaymentIntent is confirmed with a card. */
export type ChargeBehaviour =
  | { readonly kind: 'succeed' }
  | {
      readonly kind: 'decline';
      readonly code: string;
      readonly declineCode: string;
      readonly message: string;
    }
  /** 3-D Secure on every payment: off-session charges fail with `authentication_required`. */
  | { readonly kind: 'authenticate' };

export interface TestCard {
  /** The name after `pm_card_`, e.g. `visa_chargeDeclined`. */
  readonly name: string;
  readonly brand: 'visa' | 'mastercard';
  readonly last4: string;
  readonly fingerprint: string;
  readonly behaviour: ChargeBehaviour;
}

const SUCCEED: ChargeBehaviour = { kind: 'succeed' };

function decline(code: string, declineCode: string, message: string): ChargeBehaviour {
  return { kind: 'decline', code, declineCode, message };
}

function declined(declineCode: string, message = 'Your card was declined.'): ChargeBehaviour {
  return decline('card_declined', declineCode, message);
}

// Card numbers and decline reasons follow Stripe's testing page. For the error codes that
// are not `card_declined`, Stripe also fills `decline_code` with the same value.
const TABLE: ReadonlyArray<[string, TestCard['brand'], string, ChargeBehaviour]> = [
  ['visa', 'visa', '4242', SUCCEED],
  ['mastercard', 'mastercard', '4444', SUCCEED],
  ['chargeCustomerFail', 'visa', '0341', declined('generic_decline')],
  ['authenticationRequired', 'visa', '3184', { kind: 'authenticate' }],
  ['visa_chargeDeclined', 'visa', '0002', declined('generic_decline')],
  [
    'visa_chargeDeclinedInsufficientFunds',
    'visa',
    '9995',
    declined('insufficient_funds', 'Your card has insufficient funds.'),
  ],
  ['visa_chargeDeclinedLostCard', 'visa', '9987', declined('lost_card')],
  ['visa_chargeDeclinedStolenCard', 'visa', '9979', declined('stolen_card')],
  ['visa_chargeDeclinedFraudulent', 'visa', '0019', declined('fraudulent')],
  [
    'chargeDeclinedExpiredCard',
    'visa',
    '0069',
    decline('expired_card', 'expired_card', 'Your card has expired.'),
  ],
  [
    'chargeDeclinedProcessingError',
    'visa',
    '0119',
    decline(
      'processing_error',
      'processing_error',
      'An error occurred while processing your card. Try again in a little bit.',
    ),
  ],
  [
    'chargeDeclinedIncorrectCvc',
    'visa',
    '0127',
    decline('incorrect_cvc', 'incorrect_cvc', "Your card's security code is incorrect."),
  ],
];

// Stable per card, as Stripe's fingerprints are per card number within an account.
function fingerprint(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 16);
}

const CARDS: ReadonlyMap<string, TestCard> = new Map(
  TABLE.map(([name, brand, last4, behaviour]) => [
    name,
    { name, brand, last4, fingerprint: fingerprint(name), behaviour },
  ]),
);

/**
 * The test card behind a Stripe test PaymentMethod id such as `pm_card_visa`.
 * Real Stripe refuses to attach most of the decline cards; the sandbox lets all of them
 * attach so that a saved card that later declines can be tested.
 */
export function testCardForPaymentMethod(id: string): TestCard | undefined {
  return id.startsWith('pm_card_') ? CARDS.get(id.slice('pm_card_'.length)) : undefined;
}

/** The test card behind a token such as `tok_visa` or `tok_chargeDeclinedLostCard`. */
export function testCardForToken(token: string): TestCard | undefined {
  if (!token.startsWith('tok_')) return undefined;
  const name = token.slice('tok_'.length);
  return CARDS.get(name) ?? CARDS.get(`visa_${name}`);
}
