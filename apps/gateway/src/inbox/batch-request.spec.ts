import { AppError, ERRORS } from '@app/shared/errors';
import { JsonNumber } from '@app/shared/xuid';
import { parseBatchRequest, parseReadStateRequest } from './batch-request';

function refusal(run: () => unknown): { code: number; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return { code: error.definition.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseBatchRequest', () => {
  it('should keep each id once, in byte order, and ignore unknown properties', () => {
    expect(parseBatchRequest({ action: 'delete', messageIds: ['b', 'a-', 'B', 'a_', 'b'], extra: 1 })).toEqual({
      action: 'delete',
      messageIds: ['B', 'a-', 'a_', 'b'],
    });
  });

  it('should accept exactly 100 ids and refuse 101 and none', () => {
    const ids = Array.from({ length: 101 }, (_, i) => `m${i}`);
    expect(parseBatchRequest({ action: 'markRead', messageIds: ids.slice(0, 100) }).messageIds).toHaveLength(100);
    expect(refusal(() => parseBatchRequest({ action: 'markRead', messageIds: ids }))).toEqual({
      code: ERRORS.BATCH_MESSAGE_IDS_INVALID.code,
      message: 'messageIds must be a list of 1 to 100 message ids; 101 were given.',
    });
    expect(refusal(() => parseBatchRequest({ action: 'markRead', messageIds: 'm1' })).message).toBe(
      'messageIds must be a list of 1 to 100 message ids; it is a string.',
    );
  });

  it('should name the first bad entry by its index, quoting it safely', () => {
    expect(refusal(() => parseBatchRequest({ action: 'markUnread', messageIds: ['ok', 'x'.repeat(51), '*'] })).message).toBe(
      `messageIds[1] must be a message id, 1..50 characters of A-Z, a-z, 0-9, "_" or "-"; it is "${'x'.repeat(24)}...".`,
    );
    expect(refusal(() => parseBatchRequest({ action: 'markUnread', messageIds: ['ok', new JsonNumber('12')] })).message).toBe(
      'messageIds[1] must be a message id, 1..50 characters of A-Z, a-z, 0-9, "_" or "-"; it is a number.',
    );
  });

  it('should refuse a body that is not an object or an unknown action with 6011', () => {
    expect(refusal(() => parseBatchRequest(undefined)).code).toBe(ERRORS.BATCH_BODY_INVALID.code);
    expect(refusal(() => parseBatchRequest({ messageIds: ['a'] })).message).toBe(
      'action must be "delete", "markRead" or "markUnread"; it is missing.',
    );
  });
});

describe('parseReadStateRequest', () => {
  it('should read a boolean isRead and refuse anything else with 6010', () => {
    expect(parseReadStateRequest({ isRead: false })).toBe(false);
    expect(parseReadStateRequest({ isRead: true, other: 'x' })).toBe(true);
    expect(refusal(() => parseReadStateRequest({ isRead: 'true' }))).toEqual({
      code: ERRORS.READ_STATE_BODY_INVALID.code,
      message: 'isRead must be true or false; it is a string. Send {"isRead":true} or {"isRead":false}.',
    });
  });
});
