import type Stripe from 'stripe';
import type { Handler } from './handler';
import type { FormObject } from './form';
import { ok } from './handler';
import { newestFirst } from './lists';
import { invalidRequest } from './errors';
import { readLimit, readString, rejectUnknown, requireString } from './params';

type Comparison = ':' | '~' | '>' | '<' | '>=' | '<=';

interface Clause {
  readonly negated: boolean;
  readonly field: string;
  /** The metadata key, for `metadata['key']:'value'`. */
  readonly key: string | undefined;
  readonly comparison: Comparison;
  readonly value: string;
}

// One clause of Stripe's search language: `-field:value`, `metadata['k']:'v'`, `amount>=100`.
const CLAUSE =
  /\s*(-)?(?:metadata\[(['"])(.+?)\2\]|([a-z_]+))(>=|<=|:|~|>|<)(?:'([^']*)'|"([^"]*)"|(\S+))\s*/y;
const AND = /AND\s+/y;
const STRING_FIELDS = ['customer', 'currency', 'status'];
const NUMBER_FIELDS = ['amount', 'created'];

function invalidQuery(message: string) {
  return invalidRequest(message, { param: 'query' });
}

function toClause(match: RegExpExecArray): Clause {
  const field = match[3] === undefined ? (match[4] ?? '') : 'metadata';
  if (field !== 'metadata' && !STRING_FIELDS.includes(field) && !NUMBER_FIELDS.includes(field)) {
    throw invalidQuery(`Field '${field}' is an unsupported search field for payment_intents.`);
  }
  return {
    negated: match[1] === '-',
    field,
    key: match[3],
    comparison: (match[5] ?? ':') as Comparison,
    value: match[6] ?? match[7] ?? match[8] ?? '',
  };
}

/**
 * Parses clauses joined by AND. OR is valid in Stripe but the sandbox does not need it,
 * so it is refused rather than answered wrongly.
 */
export function parseQuery(query: string): Clause[] {
  const clauses: Clause[] = [];
  let position = 0;
  for (;;) {
    CLAUSE.lastIndex = position;
    const match = CLAUSE.exec(query);
    if (!match) throw invalidQuery(`Could not parse the search query at position ${position}.`);
    clauses.push(toClause(match));
    position = CLAUSE.lastIndex;
    if (position === query.length) return clauses;
    AND.lastIndex = position;
    if (!AND.exec(query)) throw invalidQuery('The Stripe sandbox supports only AND in queries.');
    position = AND.lastIndex;
  }
}

function compare(actual: string | number | null, clause: Clause): boolean {
  if (actual === null) return false;
  if (typeof actual === 'number') {
    const expected = Number(clause.value);
    if (clause.comparison === '>') return actual > expected;
    if (clause.comparison === '<') return actual < expected;
    if (clause.comparison === '>=') return actual >= expected;
    if (clause.comparison === '<=') return actual <= expected;
    return actual === expected;
  }
  if (clause.comparison === '~') return actual.includes(clause.value);
  return clause.comparison === ':' && actual === clause.value;
}

function fieldValue(intent: Stripe.PaymentIntent, clause: Clause): string | number | null {
  if (clause.key !== undefined) return intent.metadata[clause.key] ?? null;
  const value = (intent as unknown as Record<string, unknown>)[clause.field];
  return typeof value === 'string' || typeof value === 'number' ? value : null;
}

/** Whether a PaymentIntent satisfies every clause. */
export function matchesQuery(intent: Stripe.PaymentIntent, clauses: readonly Clause[]): boolean {
  return clauses.every((clause) => compare(fieldValue(intent, clause), clause) !== clause.negated);
}

// `page` is the opaque cursor Stripe returns as `next_page`; here it encodes an offset.
function readPage(params: FormObject): number {
  const page = readString(params, 'page');
  if (page === undefined) return 0;
  const offset = Number(Buffer.from(page, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw invalidRequest('Invalid page.', { param: 'page' });
  return offset;
}

/**
 * GET /v1/payment_intents/search. Unlike Stripe, whose index lags up to a minute, results
 * are immediately consistent, so code that searches right after charging passes here but
 * could miss the charge on real Stripe (list by customer is the consistent lookup).
 */
export const searchPaymentIntents: Handler = (request, _path, state) => {
  const { params } = request;
  rejectUnknown(params, ['query', 'limit', 'page']);
  const clauses = parseQuery(requireString(params, 'query'));
  const limit = readLimit(params);
  const offset = readPage(params);
  const found = newestFirst(state.paymentIntents.values()).filter((intent) =>
    matchesQuery(intent, clauses),
  );
  const hasMore = offset + limit < found.length;
  return ok({
    object: 'search_result',
    data: found.slice(offset, offset + limit),
    has_more: hasMore,
    next_page: hasMore ? Buffer.from(String(offset + limit)).toString('base64url') : null,
    url: request.path,
  });
};
