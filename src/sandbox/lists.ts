import type { FormObject } from './form';
import { resourceMissing } from './errors';
import { readInteger, readLimit, readString } from './params';

/** Stripe's list envelope. */
export interface ListPage<T> {
  readonly object: 'list';
  readonly data: T[];
  readonly has_more: boolean;
  readonly url: string;
}

/**
 * One page of `items` (already filtered and newest first), honouring `limit`,
 * `starting_after` and `ending_before` as Stripe's cursor pagination does.
 */
export function paginate<T extends { id: string }>(
  items: readonly T[],
  params: FormObject,
  url: string,
): ListPage<T> {
  const limit = readLimit(params);
  const after = readString(params, 'starting_after');
  const before = readString(params, 'ending_before');
  if (before !== undefined) {
    const end = cursorIndex(items, before, 'ending_before');
    const start = Math.max(0, end - limit);
    return { object: 'list', data: items.slice(start, end), has_more: start > 0, url };
  }
  const start = after === undefined ? 0 : cursorIndex(items, after, 'starting_after') + 1;
  const data = items.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < items.length, url };
}

function cursorIndex<T extends { id: string }>(items: readonly T[], id: string, param: string) {
  const index = items.findIndex((item) => item.id === id);
  if (index < 0) throw resourceMissing('object', id, param);
  return index;
}

/** The values of a Map, newest first. */
export function newestFirst<T>(values: Iterable<T>): T[] {
  return [...values].reverse();
}

const RANGE_KEYS = ['gt', 'gte', 'lt', 'lte'] as const;

/** The `created` filter of list calls: a timestamp, or a range such as `created[gte]=...`. */
export function createdFilter(params: FormObject): (created: number) => boolean {
  const value = params.created;
  if (value === undefined) return () => true;
  if (typeof value === 'string') {
    const exact = readInteger(params, 'created');
    return (created) => created === exact;
  }
  const bounds = RANGE_KEYS.map((key) => [key, readInteger(value, key)] as const);
  return (created) =>
    bounds.every(([key, bound]) => {
      if (bound === undefined) return true;
      if (key === 'gt') return created > bound;
      if (key === 'gte') return created >= bound;
      if (key === 'lt') return created < bound;
      return created <= bound;
    });
}
