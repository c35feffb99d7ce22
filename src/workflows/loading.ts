/**
 * Handlers that exist from the workflow's first instant, while the merchant is loading.
 * The SDK rejects an Update that finds no handler at the end of the activation it arrived
 * in, and update-with-start (the API's first PUT for a merchant) delivers one exactly
 * then, while the loadMerchant activity is still running. Signals need no stand-in: the
 * SDK keeps them until their handler is registered.
 */
import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { MERCHANT_LOADING_FAILURE_TYPE, getStateQuery, updateSettingsUpdate } from './definitions';
import type { MerchantAutoReload } from './merchant';

/** Registers stand-ins that MerchantAutoReload.registerHandlers() replaces once loaded. */
export function registerLoadingHandlers(loaded: Promise<MerchantAutoReload>): void {
  setHandler(getStateQuery, () => {
    throw ApplicationFailure.create({
      type: MERCHANT_LOADING_FAILURE_TYPE,
      message: 'Auto Reload is loading the merchant; retry shortly',
      nonRetryable: true,
    });
  });
  // No validator: without the merchant's currency the settings cannot be judged yet, so
  // they are validated after loading and a refusal fails the Update instead.
  setHandler(updateSettingsUpdate, async (settings) => {
    const merchant = await loaded;
    return merchant.updateSettingsAfterLoading(settings);
  });
}
