/**
 * Signatures of the notifications we send to merchants (SPEC 3.8), in the style of Stripe's
 * webhooks: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp is
 * signed with the body so that a captured request cannot be replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the signature of the body. */
export const SIGNATURE_HEADER = 'AutoReload-Signature';

/** Header carrying the notification id: the same on every retry of one event. */
export const EVENT_ID_HEADER = 'AutoReload-Event-Id';

/** How old a signature may be when it is checked; Stripe uses the same default. */
export const DEFAULT_TOLERANCE_SEC = 300;

function hmacHex(secret: string, timestampSec: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${body}`, 'utf8').digest('hex');
}

/** The signature header value for `body` sent at `timestampSec` (whole Unix seconds). */
export function signNotification(body: string, secret: string, timestampSec: number): string {
  if (!Number.isSafeInteger(timestampSec)) {
    throw new RangeError(`Signature timestamp must be whole seconds, got ${timestampSec}`);
  }
  return `t=${timestampSec},v1=${hmacHex(secret, timestampSec, body)}`;
}

interface ParsedSignature {
  readonly timestampSec: number;
  readonly signatures: readonly string[];
}

/** Reads `t=...,v1=...[,v1=...]`; several v1 values let a secret be rotated. */
function parseSignatureHeader(header: string): ParsedSignature | null {
  let timestampSec: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (value === undefined || rest.length > 0) continue;
    if (key === 't' && /^[0-9]{1,15}$/.test(value)) timestampSec = Number(value);
    if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  return timestampSec === null || signatures.length === 0 ? null : { timestampSec, signatures };
}

export interface VerifyOptions {
  /** Largest accepted distance between the signature's time and now. @default 300 */
  readonly toleranceSec?: number;
  /** Now in Unix seconds. @default the system clock */
  readonly nowSec?: number;
}

/**
 * True when `header` is a signature of exactly `body` with `secret`, made within the
 * tolerance of now. Merchants check every notification with it (our tests do too); pass
 * the raw body as received, before any JSON parsing.
 */
export function verifyNotificationSignature(
  body: string,
  header: string,
  secret: string,
  options: VerifyOptions = {},
): boolean {
  const parsed = parseSignatureHeader(header);
  if (parsed === null) return false;
  const nowSec = options.nowSec ?? Math.floor(Date.now() / 1000);
  const toleranceSec = options.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (Math.abs(nowSec - parsed.timestampSec) > toleranceSec) return false;

  const expected = Buffer.from(hmacHex(secret, parsed.timestampSec, body), 'hex');
  // Constant time, so that response timing never tells how much of a guess was right.
  return parsed.signatures.some((candidate) =>
    timingSafeEqual(Buffer.from(candidate, 'hex'), expected),
  );
}
