/** Reads `?limit=&cursor=` the same way for every list. */
import type { PageRequest } from '../../merchants/reads';

/** The schema has checked `limit` is 1 to 4 digits; the list itself checks its range. */
export function pageRequest(query: { limit?: string; cursor?: string }): PageRequest {
  return {
    ...(query.limit !== undefined && { limit: Number(query.limit) }),
    ...(query.cursor !== undefined && { cursor: query.cursor }),
  };
}
