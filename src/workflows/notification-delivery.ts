/**
 * One notification's delivery, as a workflow of its own (id `notification-<ntf_...>`).
 * The merchant workflow starts it and lets go: Temporal retries the delivery for days
 * while the merchant's workflow goes on deciding, charging and continuing as new, which a
 * delivery activity of its own would hold up for as long as the merchant's server is down.
 */
import type { NotificationOutcome, NotificationRequest } from '../activities/contract';
import { notifications } from './activities';

export async function deliverNotification(
  request: NotificationRequest,
): Promise<NotificationOutcome> {
  return notifications.notifyMerchant(request);
}
