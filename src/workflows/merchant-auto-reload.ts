/**
 * The merchant workflow: one per merchant, id `auto-reload-<merchantId>` (see ids.ts),
 * living as long as the merchant and continuing as new to keep its history small.
 */
import { continueAsNew, log } from '@temporalio/workflow';
import { store } from './activities';
import type { MerchantAutoReloadInput } from './definitions';
import { registerLoadingHandlers } from './loading';
import { MerchantAutoReload } from './merchant';
import { type MerchantState, initialState } from './state';

/**
 * Postgres is read only on the very first start: afterwards the workflow's own state is
 * the authority, and balance changes reach it through signals.
 */
async function loadState(input: MerchantAutoReloadInput): Promise<MerchantState> {
  const state = input.state ?? initialState(await store.loadMerchant(input.merchantId), Date.now());
  if (state.merchantId !== input.merchantId) {
    throw new Error(`State of merchant ${state.merchantId} passed to ${input.merchantId}`);
  }
  return state;
}

/**
 * Keeps a merchant's prepaid balance above its threshold within the cycle cap (SPEC 3.4).
 * Started with `{merchantId}`; each new run receives `{merchantId, state}`.
 */
export async function merchantAutoReload(input: MerchantAutoReloadInput): Promise<never> {
  const loading = loadState(input).then((state) => new MerchantAutoReload(state));
  registerLoadingHandlers(loading);

  const merchant = await loading;
  merchant.registerHandlers();
  const carried = await merchant.runUntilContinueAsNew();

  log.info('Continuing as new', { ledgerSeq: carried.ledgerSeq, cycleKey: carried.cycle.key });
  return continueAsNew<typeof merchantAutoReload>({ merchantId: input.merchantId, state: carried });
}
