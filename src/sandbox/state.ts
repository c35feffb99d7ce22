import type Stripe from 'stripe';
import type { TestCard } from './test-cards';

/** A PaymentMethod and the test card whose behaviour its charges follow. */
export interface StoredPaymentMethod {
  readonly paymentMethod: Stripe.PaymentMethod;
  readonly card: TestCard;
}

/**
 * The Stripe objects the sandbox holds, in memory only. Maps keep insertion order, which
 * is creation order: lists read them backwards to answer newest first.
 */
export interface SandboxState {
  readonly customers: Map<string, Stripe.Customer>;
  readonly paymentMethods: Map<string, StoredPaymentMethod>;
  readonly paymentIntents: Map<string, Stripe.PaymentIntent>;
  readonly charges: Map<string, Stripe.Charge>;
  readonly events: Map<string, Stripe.Event>;
}

export function createState(): SandboxState {
  return {
    customers: new Map(),
    paymentMethods: new Map(),
    paymentIntents: new Map(),
    charges: new Map(),
    events: new Map(),
  };
}

/** Empties every map in place, so code holding the state object sees the reset. */
export function clearState(state: SandboxState): void {
  state.customers.clear();
  state.paymentMethods.clear();
  state.paymentIntents.clear();
  state.charges.clear();
  state.events.clear();
}

/** A deep copy, so that a saved answer or a queued webhook does not change afterwards. */
export function snapshot<T>(value: T): T {
  return structuredClone(value);
}
