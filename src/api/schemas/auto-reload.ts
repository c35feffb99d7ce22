/** Schemas of the Auto Reload routes. */
import { Type } from 'typebox';
import { AUTO_RELOAD_STATUSES } from '../../domain/auto-reload';
import {
  MerchantParams,
  Money,
  MoneyOut,
  Nullable,
  Strict,
  StringEnum,
  errorResponses,
} from './common';

const Mode = StringEnum(
  ['fixed', 'target'],
  'fixed: charge `amount`; target: top the balance up to `amount`',
);

export const AutoReloadSchema = Strict({
  enabled: Type.Boolean(),
  mode: Mode,
  threshold: MoneyOut('Recharge when the balance is strictly below this'),
  amount: MoneyOut('Fixed mode: the charge. Target mode: the balance to reach'),
  maxPerCycle: MoneyOut('Most Auto Reload adds in one billing cycle'),
  status: StringEnum(AUTO_RELOAD_STATUSES),
  balance: MoneyOut('Balance the decision was made on'),
  cycle: Strict({
    start: Type.String({ format: 'date-time' }),
    end: Type.String({ format: 'date-time' }),
    total: MoneyOut('Added in this cycle, succeeded plus in flight'),
    inFlight: MoneyOut('Part of total still being charged'),
    remaining: MoneyOut('maxPerCycle minus total'),
  }),
  heldBack: Nullable(
    Strict(
      {
        reason: StringEnum(['rate_limited', 'runaway_paused']),
        until: Type.String({ format: 'date-time' }),
      },
      'The runaway guard holds charging back until then: 10 recharges in 24 hours, or money ' +
        'added far beyond what the ledger shows. Null when nothing holds it back, and in ' +
        'answers read from Postgres alone while the workflow does not answer',
    ),
  ),
  lastRecharge: Nullable(
    Strict({
      id: Type.String(),
      amount: MoneyOut('Charged'),
      status: Type.String(),
      paymentIntentId: Nullable(Type.String()),
      at: Type.String({ format: 'date-time' }),
    }),
  ),
  nextCharge: Strict(
    {
      amount: MoneyOut('What one recharge would charge at this balance'),
      due: Type.Boolean({ description: 'Enabled and the balance is below the threshold' }),
      withinCap: Type.Boolean({ description: 'The cycle has room for that charge' }),
    },
    'The rule of SPEC 3.4 applied to the current balance',
  ),
});

export const PutAutoReload = {
  tags: ['auto-reload'],
  summary: 'Replace the settings; answers the state after the workflow decided on them',
  params: MerchantParams,
  body: Strict({
    enabled: Type.Boolean(),
    mode: Type.Optional(Mode),
    threshold: Money('Recharge when the balance falls strictly below this'),
    amount: Money('usd 20.00 to 2000.00, jpy 3000 to 300000, whole minor units'),
    maxPerCycle: Money('At least amount'),
  }),
  response: { 200: AutoReloadSchema, ...errorResponses(403, 404) },
};

export const GetSuggestion = {
  tags: ['auto-reload'],
  summary: 'Suggested maxPerCycle for an amount, from the recharge history (SPEC 3.7)',
  params: MerchantParams,
  querystring: Strict({ amount: Money('The amount the merchant typed') }),
  response: {
    200: Strict({ maxPerCycle: MoneyOut('Suggested maximum'), amount: MoneyOut('As asked') }),
    ...errorResponses(403, 404),
  },
};
