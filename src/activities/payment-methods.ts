/** The merchant's Stripe customer and saved card (SPEC 3.6, SPEC 5 payment-method). */
import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Database } from '../db/client';
import { merchants, type SavedPaymentMethod } from '../db/schema';
import { findMerchant } from './merchant-store';

export interface PaymentMethodDeps {
  readonly db: Database;
  readonly stripe: Stripe;
}

/** Thrown when Stripe refuses a payment method the merchant tried to save. */
export class PaymentMethodRejectedError extends Error {
  override readonly name = 'PaymentMethodRejectedError';
  constructor(
    readonly paymentMethodId: string,
    readonly stripeCode: string | null,
    options: { cause: unknown },
  ) {
    super(`Payment method ${paymentMethodId} was refused by Stripe`, options);
  }
}

/**
 * Returns the merchant's Stripe customer id, creating the customer on first use. The
 * idempotency key is derived from the merchant id, so a retry never creates a second one.
 */
export async function ensureStripeCustomer(
  deps: PaymentMethodDeps,
  merchantId: string,
): Promise<string> {
  const merchant = await findMerchant(deps.db, merchantId);
  if (merchant.stripeCustomerId) return merchant.stripeCustomerId;

  const customer = await deps.stripe.customers.create(
    { name: merchant.name, metadata: { merchant_id: merchantId } },
    { idempotencyKey: `auto-reload:customer:${merchantId}` },
  );
  await deps.db
    .update(merchants)
    .set({ stripeCustomerId: customer.id })
    .where(eq(merchants.id, merchantId));
  return customer.id;
}

function describeCard(paymentMethod: Stripe.PaymentMethod): SavedPaymentMethod {
  const card = paymentMethod.card;
  return {
    id: paymentMethod.id,
    brand: card?.brand ?? 'unknown',
    last4: card?.last4 ?? '',
    expMonth: card?.exp_month ?? 0,
    expYear: card?.exp_year ?? 0,
  };
}

/** Attaches a payment method to the merchant's customer and saves it as the card to charge. */
export async function attachPaymentMethod(
  deps: PaymentMethodDeps,
  merchantId: string,
  paymentMethodId: string,
): Promise<SavedPaymentMethod> {
  const customerId = await ensureStripeCustomer(deps, merchantId);
  let attached: Stripe.PaymentMethod;
  try {
    attached = await deps.stripe.paymentMethods.attach(paymentMethodId, { customer: customerId });
  } catch (error) {
    const code = (error as { code?: string }).code ?? null;
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 400 && status < 500 && status !== 429) {
      throw new PaymentMethodRejectedError(paymentMethodId, code, { cause: error });
    }
    throw error;
  }
  const saved = describeCard(attached);
  await deps.db.update(merchants).set({ paymentMethod: saved }).where(eq(merchants.id, merchantId));
  return saved;
}
