import type Stripe from 'stripe';
import type { Handler } from './handler';
import type { FormObject } from './form';
import type { SandboxState } from './state';
import { ok } from './handler';
import { newId, unixSeconds } from './ids';
import { expandObject } from './expand';
import { invalidRequest, resourceMissing } from './errors';
import { mergeMetadata, readExpand, readObject, readString, rejectUnknown } from './params';

const CUSTOMER_PARAMS = ['email', 'name', 'description', 'phone', 'metadata', 'invoice_settings'];

/** The customer named by `id`, or Stripe's resource_missing (404 in a path, 400 as a param). */
export function findCustomer(state: SandboxState, id: string, param?: string): Stripe.Customer {
  const customer = state.customers.get(id);
  if (!customer) throw resourceMissing('customer', id, param);
  return customer;
}

function newCustomer(id: string): Stripe.Customer {
  return {
    id,
    object: 'customer',
    address: null,
    balance: 0,
    created: unixSeconds(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: null,
    discount: null,
    email: null,
    invoice_prefix: id.slice(4, 12).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: {},
    name: null,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
}

// Stripe accepts only a PaymentMethod already attached to this customer as the default.
function readDefaultPaymentMethod(state: SandboxState, customerId: string, params: FormObject) {
  const settings = readObject(params, 'invoice_settings');
  if (settings === undefined) return undefined;
  const id = readString(settings, 'default_payment_method');
  if (id === undefined) return undefined;
  if (id === '') return null;
  const param = 'invoice_settings[default_payment_method]';
  const stored = state.paymentMethods.get(id);
  if (!stored) throw resourceMissing('PaymentMethod', id, param);
  if (stored.paymentMethod.customer !== customerId) {
    throw invalidRequest(`The PaymentMethod ${id} is not attached to customer ${customerId}.`, {
      param,
    });
  }
  return id;
}

/** Validates every parameter first, then writes them, so a refusal changes nothing. */
function applyUpdate(state: SandboxState, customer: Stripe.Customer, params: FormObject): void {
  rejectUnknown(params, CUSTOMER_PARAMS);
  const defaultPaymentMethod = readDefaultPaymentMethod(state, customer.id, params);
  const metadata = mergeMetadata(customer.metadata, params);
  const email = readString(params, 'email');
  const name = readString(params, 'name');
  const description = readString(params, 'description');
  const phone = readString(params, 'phone');

  customer.metadata = metadata;
  if (email !== undefined) customer.email = email || null;
  if (name !== undefined) customer.name = name || null;
  if (description !== undefined) customer.description = description || null;
  if (phone !== undefined) customer.phone = phone || null;
  if (defaultPaymentMethod !== undefined) {
    customer.invoice_settings.default_payment_method = defaultPaymentMethod;
  }
}

export const createCustomer: Handler = (request, _path, state) => {
  const customer = newCustomer(newId('cus', 14));
  applyUpdate(state, customer, request.params);
  state.customers.set(customer.id, customer);
  return ok(customer);
};

export const retrieveCustomer: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, []);
  return ok(expandObject(state, findCustomer(state, id), readExpand(request.params)));
};

export const updateCustomer: Handler = (request, [id = ''], state) => {
  const customer = findCustomer(state, id);
  applyUpdate(state, customer, request.params);
  return ok(customer);
};
