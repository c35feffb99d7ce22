/**
 * Entry point the worker bundles (`workflowsPath`): every exported function is a workflow
 * type. Clients import definitions.ts and ids.ts directly instead of this file.
 */
export { merchantAutoReload } from './merchant-auto-reload';
export { deliverNotification } from './notification-delivery';
export { reconcileStrandedMerchants } from './reconciler';
