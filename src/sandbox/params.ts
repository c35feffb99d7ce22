import type { FormObject, FormValue } from './form';
import { parameterInvalid, parameterMissing, parameterUnknown } from './errors';

/**
 * Refuses parameters a route does not know, as Stripe does, so that a typo in our own
 * code fails against the sandbox instead of being ignored. `expand` is always allowed.
 */
export function rejectUnknown(params: FormObject, allowed: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (name !== 'expand' && !allowed.includes(name)) throw parameterUnknown(name);
  }
}

export function readString(params: FormObject, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || typeof value === 'string') return value;
  throw parameterInvalid(name, `Invalid string: ${name} must be a string`);
}

/** A string that must be present and non-empty. */
export function requireString(params: FormObject, name: string): string {
  const value = readString(params, name);
  if (value === undefined || value === '') throw parameterMissing(name);
  return value;
}

export function readInteger(params: FormObject, name: string): number | undefined {
  const text = readString(params, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw parameterInvalid(name, `Invalid integer: ${text}`, 'parameter_invalid_integer');
  }
  return value;
}

export function readBoolean(params: FormObject, name: string): boolean | undefined {
  const text = readString(params, name);
  if (text === undefined) return undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  throw parameterInvalid(name, `Invalid boolean: ${text}`);
}

export function readObject(params: FormObject, name: string): FormObject | undefined {
  const value = params[name];
  if (value === undefined || typeof value === 'object') return value;
  if (value === '') return {};
  throw parameterInvalid(name, `Invalid object: ${name} must be a hash`);
}

/**
 * Metadata as Stripe takes it: string values only; `metadata=` (empty) clears all keys
 * and an empty value clears one key on update, so empty strings are kept for the caller.
 */
function readMetadata(params: FormObject): Record<string, string> | undefined {
  const value = readObject(params, 'metadata');
  if (value === undefined) return undefined;
  const metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      throw parameterInvalid(`metadata[${key}]`, 'Metadata values must be strings.');
    }
    if (key.length > 40 || entry.length > 500) {
      throw parameterInvalid(
        `metadata[${key}]`,
        'Metadata keys are limited to 40 characters and values to 500 characters.',
      );
    }
    metadata[key] = entry;
  }
  return metadata;
}

function listValues(value: FormValue): string[] {
  if (typeof value === 'string') return [value];
  return Object.keys(value)
    .sort((left, right) => Number(left) - Number(right))
    .map((key) => value[key])
    .filter((entry): entry is string => typeof entry === 'string');
}

/** `expand[]=a&expand[]=b`, `expand[0]=a` or a single `expand=a`. */
export function readExpand(params: FormObject): string[] {
  const value = params.expand;
  return value === undefined ? [] : listValues(value);
}

/** `limit` for lists and searches: 1 to 100, 10 when absent, as in Stripe. */
export function readLimit(params: FormObject): number {
  const limit = readInteger(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw parameterInvalid('limit', `Invalid limit: must be between 1 and 100`);
  }
  return limit;
}

/**
 * The metadata after an update: keys given are set, keys given empty are removed, and
 * `metadata=` alone removes them all. On create, pass `{}` as the current metadata.
 */
export function mergeMetadata(
  current: Readonly<Record<string, string>>,
  params: FormObject,
): Record<string, string> {
  if (params.metadata === '') return {};
  const update = readMetadata(params) ?? {};
  const merged: Record<string, string> = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (value === '') delete merged[key];
    else merged[key] = value;
  }
  return merged;
}
