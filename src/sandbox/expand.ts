import type { SandboxState } from './state';
import { invalidRequest } from './errors';

// Only the references our code might expand; Stripe allows more.
const EXPANDABLE: Readonly<Record<string, readonly string[]>> = {
  payment_intent: ['customer', 'payment_method', 'latest_charge'],
  payment_method: ['customer'],
  charge: ['customer', 'payment_intent'],
};

function findById(state: SandboxState, id: string): unknown {
  if (id.startsWith('cus_')) return state.customers.get(id);
  if (id.startsWith('pm_')) return state.paymentMethods.get(id)?.paymentMethod;
  if (id.startsWith('ch_')) return state.charges.get(id);
  if (id.startsWith('pi_')) return state.paymentIntents.get(id);
  return undefined;
}

function notExpandable(path: string) {
  return invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
}

/** Refuses `paths` that cannot be expanded on `objectType`, before any work is done. */
export function checkExpandable(objectType: string, paths: readonly string[]): void {
  const allowed = EXPANDABLE[objectType] ?? [];
  const refused = paths.find((path) => !allowed.includes(path));
  if (refused !== undefined) throw notExpandable(refused);
}

/** A copy of `object` with the listed id fields replaced by the objects they name. */
export function expandObject(
  state: SandboxState,
  object: { readonly object: string },
  paths: readonly string[],
): unknown {
  if (paths.length === 0) return object;
  checkExpandable(object.object, paths);
  const copy: Record<string, unknown> = { ...object };
  for (const path of paths) {
    const id = copy[path];
    if (typeof id === 'string') copy[path] = findById(state, id) ?? id;
  }
  return copy;
}

/** Expansion inside a list: Stripe spells it `data.<field>`. */
export function expandEach(
  state: SandboxState,
  objects: ReadonlyArray<{ readonly object: string }>,
  paths: readonly string[],
): unknown[] {
  const inner = paths.map((path) => {
    if (!path.startsWith('data.')) throw notExpandable(path);
    return path.slice('data.'.length);
  });
  return objects.map((object) => expandObject(state, object, inner));
}
