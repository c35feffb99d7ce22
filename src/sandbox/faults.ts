import { newId } from './ids';

export const FAULT_MODES = [
  'error_before',
  'error_after',
  'drop_after',
  'rate_limit',
  'delay',
] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** A fault as posted to `POST /_sandbox/faults`. */
export interface FaultSpec {
  readonly method: string;
  /** The exact request path, without the query string. */
  readonly path: string;
  readonly mode: FaultMode;
  /** How many matching requests it applies to. */
  readonly times: number;
  /** The status answered by `error_before` and `error_after`; 500 when omitted. */
  readonly status: number;
  /** The wait of `delay`. */
  readonly delayMs: number;
}

export interface Fault extends FaultSpec {
  readonly id: string;
  /** Matching requests it still applies to. */
  readonly remaining: number;
}

/** A control request the sandbox refuses; answered as a 400. */
export class ControlError extends Error {
  override readonly name = 'ControlError';
}

const SPEC_KEYS = ['method', 'path', 'mode', 'times', 'status', 'delayMs'];
const METHODS = ['GET', 'POST', 'DELETE'];

function integerField(
  body: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = body[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ControlError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new ControlError(`${name} is required`);
  return value;
}

/** Validates a fault posted to the control API. */
export function parseFaultSpec(body: unknown): FaultSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ControlError('The body must be a JSON object');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !SPEC_KEYS.includes(key));
  if (unknown !== undefined) throw new ControlError(`Unknown field: ${unknown}`);
  const method = stringField(fields, 'method').toUpperCase();
  if (!METHODS.includes(method))
    throw new ControlError(`method must be one of ${METHODS.join(', ')}`);
  const path = stringField(fields, 'path');
  if (!path.startsWith('/') || path.includes('?')) {
    throw new ControlError('path must be a request path such as /v1/payment_intents, no query');
  }
  const mode = stringField(fields, 'mode');
  if (!(FAULT_MODES as readonly string[]).includes(mode)) {
    throw new ControlError(`mode must be one of ${FAULT_MODES.join(', ')}`);
  }
  return {
    method,
    path,
    mode: mode as FaultMode,
    times: integerField(fields, 'times', 1, 1, 1_000_000),
    status: integerField(fields, 'status', 500, 400, 599),
    delayMs: integerField(fields, 'delayMs', 0, 0, 600_000),
  };
}

export interface FaultStore {
  add(spec: FaultSpec): Fault;
  /** The first fault matching the request, counted as used; undefined when none applies. */
  take(method: string, path: string): Fault | undefined;
  list(): Fault[];
  clear(): void;
}

export function createFaultStore(): FaultStore {
  let faults: Fault[] = [];
  return {
    add(spec) {
      const fault = { ...spec, id: newId('fault', 14), remaining: spec.times };
      faults.push(fault);
      return fault;
    },
    take(method, path) {
      const fault = faults.find((f) => f.method === method && f.path === path);
      if (!fault) return undefined;
      const used = { ...fault, remaining: fault.remaining - 1 };
      faults = faults.map((f) => (f === fault ? used : f)).filter((f) => f.remaining > 0);
      return used;
    },
    list() {
      return [...faults];
    },
    clear() {
      faults = [];
    },
  };
}
