/**
 * Schema pieces shared by the routes. Every object refuses unknown fields, and money is a
 * decimal string checked here for shape and again by the strict parser for its value.
 */
import { type TSchema, Type } from 'typebox';
import { API_ERRORS, type ApiErrorCode } from '../errors';

/** SPEC 3.1: a non-negative decimal string in major units, at most 6 fractional digits. */
export const MONEY_PATTERN = '^(0|[1-9][0-9]*)(\\.[0-9]{1,6})?$';

export const Money = (description: string) =>
  Type.String({ pattern: MONEY_PATTERN, maxLength: 32, description, examples: ['20.00'] });

/** Money the API answers: may be negative (a debit in the ledger). */
export const MoneyOut = (description: string) => Type.String({ description });

export const MerchantId = Type.String({
  pattern: '^mer_[0-9a-f]{16}$',
  description: 'Merchant id, `mer_` and 16 hex digits',
});

export const MerchantParams = Type.Object({ id: MerchantId }, { additionalProperties: false });

/** Strict object: unknown fields are refused with 400 rather than silently dropped. */
export const Strict = <T extends Record<string, TSchema>>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description && { description }) });

/** One of a fixed list of strings, typed as that list's union. */
export const StringEnum = <const T extends string[]>(
  values: readonly [...T],
  description?: string,
) => Type.Enum(values, { type: 'string', ...(description && { description }) });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** The caller's own id for an event or credit; the same id is applied once. */
export const ExternalId = (description: string) =>
  Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$', description });

export const PageQuery = Strict({
  limit: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1 to 500; 50 by default' }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }),
  ),
});

export const ErrorResponse = Strict(
  {
    error: Strict({
      code: StringEnum(Object.keys(API_ERRORS) as ApiErrorCode[]),
      message: Type.String(),
      details: Type.Array(Strict({ field: Type.Optional(Type.String()), message: Type.String() })),
    }),
  },
  'Every failure answers this shape',
);

/** The error answers a route documents, besides its success. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  const answers: Record<number, typeof ErrorResponse> = {};
  for (const status of [400, 401, 429, 500, ...statuses]) answers[status] = ErrorResponse;
  return answers;
}
