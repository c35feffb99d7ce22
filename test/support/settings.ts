/** The Auto Reload settings most tests start from: below 10.00, add 20.00, at most 100.00. */
import type { AutoReloadSettings } from '../../src/domain/auto-reload';
import { parseMoney } from '../../src/domain/money';

export const BASE_SETTINGS: AutoReloadSettings = {
  enabled: true,
  mode: 'fixed',
  threshold: parseMoney('10.00'),
  amount: parseMoney('20.00'),
  maxPerCycle: parseMoney('100.00'),
};
