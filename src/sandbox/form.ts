/**
 * Stripe's form encoding: `metadata[merchant_id]=m1&expand[0]=customer` decodes to
 * nested objects. Arrays stay objects keyed by index (`expand[]` counts up); readers in
 * params.ts turn them into lists, so `metadata[0]=x` is not mistaken for an array.
 */
export type FormValue = string | FormObject;
export interface FormObject {
  [key: string]: FormValue | undefined;
}

/** The body or query string cannot be decoded; answered as a 400. */
export class FormError extends Error {
  override readonly name = 'FormError';
}

// A null prototype, so a key such as `__proto__` is data and not the object's prototype.
function emptyObject(): FormObject {
  return Object.create(null) as FormObject;
}

const KEY_PATTERN = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;

function keyPath(key: string): string[] {
  const match = KEY_PATTERN.exec(key);
  if (!match) throw new FormError(`Invalid parameter name: ${key}`);
  const brackets = [...(match[2] ?? '').matchAll(/\[([^[\]]*)\]/g)];
  return [match[1] ?? '', ...brackets.map((bracket) => bracket[1] ?? '')];
}

// `[]` appends: it takes the next free index of the object it lands in.
function segmentKey(node: FormObject, segment: string): string {
  return segment === '' ? String(Object.keys(node).length) : segment;
}

function assign(root: FormObject, path: readonly string[], value: string, key: string): void {
  let node = root;
  for (const segment of path.slice(0, -1)) {
    const name = segmentKey(node, segment);
    const child = node[name] ?? emptyObject();
    if (typeof child === 'string') throw new FormError(`Conflicting values for ${key}`);
    node[name] = child;
    node = child;
  }
  const last = segmentKey(node, path[path.length - 1] ?? '');
  if (typeof node[last] === 'object') throw new FormError(`Conflicting values for ${key}`);
  node[last] = value;
}

/** Decodes `application/x-www-form-urlencoded` text (a body or a query string). */
export function parseForm(encoded: string): FormObject {
  const root = emptyObject();
  for (const [key, value] of new URLSearchParams(encoded)) {
    assign(root, keyPath(key), value, key);
  }
  return root;
}
