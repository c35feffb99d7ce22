import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes the merchant workflow publishes; the server must have them registered. */
export const MERCHANT_ID_KEY = defineSearchAttributeKey('MerchantId', SearchAttributeType.KEYWORD);
export const AUTO_RELOAD_STATUS_KEY = defineSearchAttributeKey(
  'AutoReloadStatus',
  SearchAttributeType.KEYWORD,
);

/** `--search-attribute` values for `temporal server start-dev`. */
export const DEV_SERVER_SEARCH_ATTRIBUTES = ['MerchantId=Keyword', 'AutoReloadStatus=Keyword'];
