/**
 * Workflow ids of the merchant workflow. Sandbox-safe (no imports) so that Node code
 * (API, worker, tests) and workflow code derive the same id.
 */

/** Prefix of every merchant workflow id; the rest is the merchant id. */
export const MERCHANT_WORKFLOW_ID_PREFIX = 'auto-reload-';

/** The id of the one long-running Auto Reload workflow of a merchant (SPEC 3.4). */
export function merchantWorkflowId(merchantId: string): string {
  return `${MERCHANT_WORKFLOW_ID_PREFIX}${merchantId}`;
}
