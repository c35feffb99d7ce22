import type { FormObject, FormValue } from './form';

/** An answer as it went out, kept so that a repeat of the request gets the same bytes. */
export interface SavedResponse {
  readonly status: number;
  readonly body: string;
  readonly requestId: string;
}

/** What a request with an Idempotency-Key may do. */
export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly saved: SavedResponse }
  | { readonly kind: 'mismatch' }
  | { readonly kind: 'in_use' };

interface Entry {
  readonly fingerprint: string;
  saved: SavedResponse | undefined;
}

export interface IdempotencyStore {
  /** Looks the key up and, when it is new, marks it as executing. */
  claim(key: string, fingerprint: string): Claim;
  save(key: string, saved: SavedResponse): void;
  /** Forgets a claimed key whose request did no work (refused by validation). */
  release(key: string): void;
  clear(): void;
}

/**
 * Keys are global rather than per API key, and never expire: a sandbox lives far less
 * than Stripe's 24 hours.
 */
export function createIdempotencyStore(): IdempotencyStore {
  const entries = new Map<string, Entry>();
  return {
    claim(key, fingerprint) {
      const entry = entries.get(key);
      if (!entry) {
        entries.set(key, { fingerprint, saved: undefined });
        return { kind: 'new' };
      }
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return entry.saved ? { kind: 'replay', saved: entry.saved } : { kind: 'in_use' };
    },
    save(key, saved) {
      const entry = entries.get(key);
      if (entry) entry.saved = saved;
    },
    release(key) {
      if (entries.get(key)?.saved === undefined) entries.delete(key);
    },
    clear() {
      entries.clear();
    },
  };
}

function canonical(value: FormValue): unknown {
  if (typeof value === 'string') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const entry = value[key];
    if (entry !== undefined) sorted[key] = canonical(entry);
  }
  return sorted;
}

/**
 * What "the same request" means for a key: method, path and parameters, whatever the
 * order they were encoded in.
 */
export function requestFingerprint(method: string, path: string, params: FormObject): string {
  return JSON.stringify([method, path, canonical(params)]);
}
