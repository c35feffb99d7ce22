import type Stripe from 'stripe';
import type { Handler } from './handler';
import type { SandboxState, StoredPaymentMethod } from './state';
import { ok } from './handler';
import { newId, unixSeconds } from './ids';
import { expandObject } from './expand';
import { resourceMissing } from './errors';
import { readExpand, rejectUnknown } from './params';

/** A card decline as the issuer reports it. */
export interface Decline {
  readonly code: string;
  readonly declineCode: string;
  readonly message: string;
}

function outcome(decline: Decline | undefined): Stripe.Charge.Outcome {
  const common = { advice_code: null, network_advice_code: null, network_decline_code: null };
  if (!decline) {
    return {
      ...common,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      seller_message: 'Payment complete.',
      type: 'authorized',
    };
  }
  return {
    ...common,
    network_status: 'declined_by_network',
    reason: decline.declineCode,
    risk_level: 'normal',
    type: 'issuer_declined',
    seller_message: 'The bank did not return any further details with this decline.',
  };
}

function cardDetails(
  paymentMethod: Stripe.PaymentMethod,
  amount: number | null,
): Stripe.Charge.PaymentMethodDetails {
  const card = paymentMethod.card;
  return {
    type: 'card',
    card: {
      amount_authorized: amount,
      authorization_code: amount === null ? null : '123456',
      brand: card?.brand ?? null,
      checks: card?.checks ?? null,
      country: card?.country ?? null,
      electronic_commerce_indicator: null,
      exp_month: card?.exp_month ?? 12,
      exp_year: card?.exp_year ?? 2100,
      funding: card?.funding ?? null,
      installments: null,
      last4: card?.last4 ?? null,
      mandate: null,
      network: card?.brand ?? null,
      network_transaction_id: null,
      regulated_status: null,
      three_d_secure: null,
      transaction_link_id: null,
      wallet: null,
    },
  };
}

/** Records the charge a confirmation made: captured on success, failed on a decline. */
export function recordCharge(
  state: SandboxState,
  paymentIntent: Stripe.PaymentIntent,
  stored: StoredPaymentMethod,
  decline: Decline | undefined,
): Stripe.Charge {
  const amount = paymentIntent.amount;
  const charge: Stripe.Charge = {
    id: newId('ch'),
    object: 'charge',
    amount,
    amount_captured: decline ? 0 : amount,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: decline ? null : newId('txn'),
    billing_details: stored.paymentMethod.billing_details,
    calculated_statement_descriptor: 'SANDBOX',
    captured: !decline,
    created: unixSeconds(),
    currency: paymentIntent.currency,
    customer: paymentIntent.customer,
    description: paymentIntent.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: decline?.code ?? null,
    failure_message: decline?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: { ...paymentIntent.metadata },
    on_behalf_of: null,
    outcome: outcome(decline),
    paid: !decline,
    payment_intent: paymentIntent.id,
    payment_method: stored.paymentMethod.id,
    payment_method_details: cardDetails(stored.paymentMethod, decline ? null : amount),
    receipt_email: null,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: decline ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
  state.charges.set(charge.id, charge);
  return charge;
}

export const retrieveCharge: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, []);
  const charge = state.charges.get(id);
  if (!charge) throw resourceMissing('charge', id);
  return ok(expandObject(state, charge, readExpand(request.params)));
};
