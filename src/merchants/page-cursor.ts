/**
 * Cursors for lists ordered newest first by (created_at, id): the cursor holds the last row
 * served, so rows added meanwhile never shift pages already read.
 */
import { InvalidCursorError } from '../ledger/errors';

export interface RowPosition {
  readonly createdAt: Date;
  readonly id: string;
}

export function encodeRowCursor(position: RowPosition): string {
  const text = `${position.createdAt.toISOString()}|${position.id}`;
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** The position a cursor stands for; refuses anything encodeRowCursor did not make. */
export function decodeRowCursor(cursor: string): RowPosition {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [iso, id, ...rest] = text.split('|');
  const createdAt = new Date(iso ?? '');
  const valid = rest.length === 0 && id !== undefined && id.length > 0;
  if (!valid || Number.isNaN(createdAt.getTime())) throw new InvalidCursorError(cursor);
  const position = { createdAt, id };
  // Re-encoding must give the same cursor back: no padding, no stray characters.
  if (encodeRowCursor(position) !== cursor) throw new InvalidCursorError(cursor);
  return position;
}
