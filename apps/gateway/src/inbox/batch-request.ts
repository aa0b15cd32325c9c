import { AppError, ERRORS, quotedValue } from '@app/shared/errors';
import { JsonNumber } from '@app/shared/xuid';
import { BatchAction } from './inbox.repository';

/** At most this many message ids in one batch call. */
export const MAX_BATCH_IDS = 100;
export const BATCH_ACTIONS: readonly BatchAction[] = ['delete', 'markRead', 'markUnread'];

/** A message id as the listing gives it (docs/api.md, Message ids). */
export const MESSAGE_ID = /^[A-Za-z0-9_-]{1,50}$/;

export interface BatchRequest {
  action: BatchAction;
  /** Distinct, sorted: the order rows are locked in. */
  messageIds: string[];
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function kindOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof JsonNumber) return 'a number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** `{"isRead": true | false}`; unknown properties are ignored. */
export function parseReadStateRequest(body: unknown): boolean {
  if (!isObject(body)) {
    throw new AppError(
      ERRORS.READ_STATE_BODY_INVALID,
      `${ERRORS.READ_STATE_BODY_INVALID.message} The body is ${kindOf(body)}.`,
    );
  }
  if (typeof body.isRead !== 'boolean') {
    throw new AppError(
      ERRORS.READ_STATE_BODY_INVALID,
      `isRead must be true or false; it is ${kindOf(body.isRead)}. Send {"isRead":true} or {"isRead":false}.`,
    );
  }
  return body.isRead;
}

/**
 * `{"action": ..., "messageIds": [...]}` (docs/api.md, Act on many messages):
 * 1..100 ids, each checked like a path's message id; the first bad entry is
 * named by its index. Repeated ids count once. Unknown properties are ignored.
 */
export function parseBatchRequest(body: unknown): BatchRequest {
  if (!isObject(body)) {
    throw new AppError(ERRORS.BATCH_BODY_INVALID, `${ERRORS.BATCH_BODY_INVALID.message} The body is ${kindOf(body)}.`);
  }
  const { action, messageIds } = body;
  if (typeof action !== 'string' || !(BATCH_ACTIONS as readonly string[]).includes(action)) {
    const got = typeof action === 'string' ? quotedValue(action) : kindOf(action);
    throw new AppError(ERRORS.BATCH_BODY_INVALID, `action must be "delete", "markRead" or "markUnread"; it is ${got}.`);
  }
  if (!Array.isArray(messageIds) || messageIds.length === 0 || messageIds.length > MAX_BATCH_IDS) {
    const got = Array.isArray(messageIds) ? `${messageIds.length} were given` : `it is ${kindOf(messageIds)}`;
    throw new AppError(
      ERRORS.BATCH_MESSAGE_IDS_INVALID,
      `messageIds must be a list of 1 to ${MAX_BATCH_IDS} message ids; ${got}.`,
    );
  }
  messageIds.forEach((id: unknown, index) => {
    if (typeof id !== 'string' || !MESSAGE_ID.test(id)) {
      const got = typeof id === 'string' ? quotedValue(id) : kindOf(id);
      throw new AppError(
        ERRORS.BATCH_MESSAGE_IDS_INVALID,
        `messageIds[${index}] must be a message id, 1..50 characters of A-Z, a-z, 0-9, "_" or "-"; it is ${got}.`,
      );
    }
  });
  // Byte order, as the ids sort in the database (COLLATE "C").
  const distinct = [...new Set(messageIds as string[])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { action: action as BatchAction, messageIds: distinct };
}
