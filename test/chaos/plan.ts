/**
 * What a chaos run does, drawn from its seed alone: the merchants' settings and cards, the
 * usage the pipeline sends, and the faults and kills in the order they strike. Generated with
 * fast-check's seeded sampling, so `--seed N` replays the same plan; only how the
 * processes interleave differs from one run to the next.
 */
import fc from 'fast-check';
import type { FaultMode } from '../../src/sandbox/faults';

/** Cards of the sandbox (SPEC 6) a merchant may be switched to. */
export const DECLINING_CARDS = {
  soft: 'pm_card_visa_chargeDeclinedInsufficientFunds',
  hard: 'pm_card_visa_chargeDeclinedLostCard',
  authentication: 'pm_card_authenticationRequired',
} as const;
export const GOOD_CARD = 'pm_card_visa';

export interface MerchantPlan {
  /** Decimal strings, as the API takes them. */
  readonly maxPerCycle: string;
  readonly amount: string;
}

export type ChaosAction =
  | {
      readonly kind: 'charge_fault';
      readonly mode: FaultMode;
      readonly times: number;
      readonly delayMs: number;
    }
  | { readonly kind: 'kill_worker' | 'kill_api' | 'kill_temporal'; readonly downMs: number }
  | { readonly kind: 'restart_postgres' }
  | { readonly kind: 'change_cap'; readonly merchant: number; readonly maxPerCycle: string }
  | {
      readonly kind: 'declining_card';
      readonly merchant: number;
      readonly decline: keyof typeof DECLINING_CARDS;
    }
  | { readonly kind: 'new_card'; readonly merchant: number };

export interface PlannedAction {
  /** Wait after the previous action ended. */
  readonly afterMs: number;
  readonly action: ChaosAction;
}

export interface UsagePlan {
  readonly merchant: number;
  /** Decimal string of at most two decimals. */
  readonly amount: string;
}

export interface ChaosPlan {
  readonly merchants: readonly MerchantPlan[];
  readonly actions: readonly PlannedAction[];
  /** Batches of the usage stream, sent in order; the run uses as many as time allows. */
  readonly batches: readonly (readonly UsagePlan[])[];
}

export interface PlanOptions {
  readonly seed: number;
  readonly merchants: number;
  readonly seconds: number;
}

/** Usage batches per second of run (one every 250 ms). */
export const BATCHES_PER_SECOND = 4;
const EVENTS_PER_BATCH = 10;

const cents = (min: number, max: number) =>
  fc.integer({ min, max }).map((value) => (value / 100).toFixed(2));

const merchantPlan = (): fc.Arbitrary<MerchantPlan> =>
  fc.record({
    maxPerCycle: fc.constantFrom('60.00', '100.00', '200.00', '400.00'),
    amount: fc.constantFrom('20.00', '25.00', '30.00'),
  });

/** One arbitrary per kind of action, with how often it comes among the random ones. */
function actionsByKind(merchants: number): fc.WeightedArbitrary<ChaosAction>[] {
  const merchant = fc.integer({ min: 0, max: merchants - 1 });
  const downMs = fc.integer({ min: 0, max: 3_000 });
  return [
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('charge_fault' as const),
        mode: fc.constantFrom<FaultMode>(
          'error_before',
          'error_after',
          'drop_after',
          'rate_limit',
          'delay',
        ),
        times: fc.integer({ min: 1, max: 3 }),
        // Beyond the cluster's 4 s Stripe timeout half of the time.
        delayMs: fc.integer({ min: 1_000, max: 7_000 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('kill_worker' as const), downMs }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('kill_api' as const), downMs }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill_temporal' as const), downMs }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart_postgres' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('change_cap' as const),
        merchant,
        maxPerCycle: fc.constantFrom('40.00', '100.00', '300.00'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('declining_card' as const),
        merchant,
        decline: fc.constantFrom<keyof typeof DECLINING_CARDS>('soft', 'hard', 'authentication'),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('new_card' as const), merchant }) },
  ];
}

/**
 * Every kind of action once, in a seeded order, then random ones: even a short run
 * strikes with each.
 */
function actionSequence(merchants: number, count: number): fc.Arbitrary<ChaosAction[]> {
  const kinds = actionsByKind(merchants);
  const eachOnce = fc
    .tuple(...kinds.map((kind) => kind.arbitrary))
    .chain((actions) => fc.shuffledSubarray(actions, { minLength: actions.length }));
  const rest = Math.max(0, count - kinds.length);
  const random = fc.array(fc.oneof(...kinds), { minLength: rest, maxLength: rest });
  return fc.tuple(eachOnce, random).map(([first, then]) => [...first, ...then]);
}

const usage = (merchants: number): fc.Arbitrary<UsagePlan> =>
  fc.record({ merchant: fc.integer({ min: 0, max: merchants - 1 }), amount: cents(5, 100) });

/** The whole run from its seed. Actions come about every 1 to 5 s after the previous one ends. */
export function planChaos(options: PlanOptions): ChaosPlan {
  const { seed, merchants, seconds } = options;
  const sampleOne = <T>(arbitrary: fc.Arbitrary<T>, salt: number): T => {
    const [value] = fc.sample(arbitrary, { seed: seed + salt, numRuns: 1 });
    if (value === undefined) throw new Error('fast-check sampled nothing');
    return value;
  };
  const actionCount = Math.ceil(seconds / 3);
  const plannedActions = fc
    .tuple(
      actionSequence(merchants, actionCount),
      fc.array(fc.integer({ min: 1_000, max: 5_000 }), {
        minLength: actionCount,
        maxLength: actionCount,
      }),
    )
    .map(([actions, pauses]) =>
      actions.map((action, index) => ({ afterMs: pauses[index] ?? 1_000, action })),
    );
  return {
    merchants: sampleOne(
      fc.array(merchantPlan(), { minLength: merchants, maxLength: merchants }),
      0,
    ),
    actions: sampleOne(plannedActions, 1),
    batches: sampleOne(
      fc.array(
        fc.array(usage(merchants), { minLength: EVENTS_PER_BATCH, maxLength: EVENTS_PER_BATCH }),
        {
          minLength: seconds * BATCHES_PER_SECOND,
          maxLength: seconds * BATCHES_PER_SECOND,
        },
      ),
      2,
    ),
  };
}

/** One line for the report. */
export function describeAction(action: ChaosAction): string {
  switch (action.kind) {
    case 'charge_fault':
      return action.mode === 'delay'
        ? `charge fault delay ${action.delayMs} ms x${action.times}`
        : `charge fault ${action.mode} x${action.times}`;
    case 'kill_worker':
    case 'kill_api':
    case 'kill_temporal':
      return `${action.kind.replace('_', ' ')} (SIGKILL), down ${action.downMs} ms`;
    case 'restart_postgres':
      return 'restart postgres (immediate)';
    case 'change_cap':
      return `merchant #${action.merchant} maxPerCycle to ${action.maxPerCycle}`;
    case 'declining_card':
      return `merchant #${action.merchant} card to ${action.decline} decline`;
    case 'new_card':
      return `merchant #${action.merchant} saves a good card`;
  }
}
