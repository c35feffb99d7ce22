import type { StripeRequestError } from './errors';
import { authenticationFailed } from './errors';

const NO_KEY =
  'You did not provide an API key. You need to provide your API key in the Authorization ' +
  "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').";

// Bearer as stripe-node sends it; Basic with the key as user name, as `curl -u sk_test_x:`.
function apiKeyFrom(header: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (bearer) return bearer[1];
  const basic = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (basic)
    return Buffer.from(basic[1] ?? '', 'base64')
      .toString('utf8')
      .split(':')[0];
  return undefined;
}

// Like Stripe, show only enough of a wrong key to recognise it.
function masked(key: string): string {
  return key.length <= 12 ? `${key.slice(0, 3)}***` : `${key.slice(0, 8)}****${key.slice(-4)}`;
}

/** Any test-mode secret key is accepted; anything else is refused as Stripe would (401). */
export function checkAuthorization(header: string | undefined): StripeRequestError | undefined {
  const key = apiKeyFrom(header);
  if (key === undefined || key === '') return authenticationFailed(NO_KEY);
  if (!/^sk_test_\w+$/.test(key)) {
    return authenticationFailed(`Invalid API Key provided: ${masked(key)}`);
  }
  return undefined;
}
