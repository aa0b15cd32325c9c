import { Injectable } from '@nestjs/common';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { AppError, ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { ContinuationTokenCodec, InboxCursor } from './continuation-token';
import { BatchRequest } from './batch-request';
import { InboxEvents } from './events/inbox-events.service';
import { InboxListEntry, InboxMessage, InboxRepository, InboxSummary } from './inbox.repository';

export interface InboxPageRequest {
  maxItems: number;
  skipItems: number;
  continuationToken?: string;
}

export interface InboxPage {
  entries: InboxListEntry[];
  totalItems: number;
  /** Null on the last page. */
  continuationToken: string | null;
}

@Injectable()
export class InboxService {
  constructor(
    private readonly inbox: InboxRepository,
    private readonly tokens: ContinuationTokenCodec,
    private readonly events: InboxEvents,
  ) {}

  async listPage(owner: Xuid, request: InboxPageRequest): Promise<InboxPage> {
    const token = request.continuationToken;
    const after = token === undefined ? undefined : this.openToken(owner, token);
    // As in the original service: skipItems is ignored when a continuation token is present.
    const skip = after ? 0 : request.skipItems;
    // One row past the page tells whether another page follows.
    const { entries, totalItems } = await this.inbox.listPage(owner, {
      afterId: after?.messageId,
      skip,
      limit: request.maxItems + 1,
    });
    if (skip > totalItems) {
      throw new AppError(
        ERRORS.SKIP_PAST_END,
        `skipItems is ${skip}, larger than the ${totalItems} messages in the inbox; use at most ${totalItems}.`,
      );
    }
    if (entries.length <= request.maxItems) return { entries, totalItems, continuationToken: null };
    const page = entries.slice(0, request.maxItems);
    const last = page[page.length - 1];
    // The id alone orders the inbox; the sent time is kept in the token's layout for older tokens.
    const cursor: InboxCursor = { sentMicros: BigInt(sentOfMessageId(last.messageId)) * 1000n, messageId: last.messageId };
    return { entries: page, totalItems, continuationToken: this.tokens.encode(owner, cursor) };
  }

  /**
   * The message, now marked read; `markedRead` when this call marked it (it
   * was unread). Another inbox's message is "no such message", like one that never was.
   */
  async readMessage(owner: Xuid, messageId: string): Promise<InboxMessage & { markedRead: boolean }> {
    const message = await this.inbox.readMessage(owner, messageId);
    if (message === null) throw new AppError(ERRORS.MESSAGE_NOT_FOUND);
    if (message.markedRead) this.events.publishRead(owner, [messageId]);
    return message;
  }

  /** Idempotent: deleting an absent message succeeds. True when this call deleted it. */
  async deleteMessage(owner: Xuid, messageId: string): Promise<boolean> {
    const deleted = await this.inbox.deleteEntry(owner, messageId);
    if (deleted) this.events.publishDeleted(owner, [messageId]);
    return deleted;
  }

  /** The exact counts of unexpired and unread messages, at constant cost. */
  summary(owner: Xuid): Promise<InboxSummary> {
    return this.inbox.summary(owner);
  }

  /**
   * Marks one unexpired message read or unread without fetching it.
   * Idempotent; true when this call changed its state. A message this inbox
   * does not have (or has expired) is 404, as a read of it is.
   */
  async setReadState(owner: Xuid, messageId: string, isRead: boolean): Promise<boolean> {
    const changed = await this.inbox.apply(owner, isRead ? 'markRead' : 'markUnread', [messageId]);
    if (changed.length > 0) {
      this.publishChanged(owner, isRead ? 'markRead' : 'markUnread', changed);
      return true;
    }
    if (!(await this.inbox.hasMessage(owner, messageId))) throw new AppError(ERRORS.MESSAGE_NOT_FOUND);
    return false;
  }

  /**
   * Deletes, or marks read or unread, up to 100 messages in one statement.
   * Ids this inbox does not have are passed over (for marks, expired ones too).
   * Returns the ids whose state this call changed, sorted: repeating the call
   * changes nothing and returns [].
   */
  async applyBatch(owner: Xuid, request: BatchRequest): Promise<string[]> {
    const changed = await this.inbox.apply(owner, request.action, request.messageIds);
    this.publishChanged(owner, request.action, changed);
    return changed;
  }

  /** Tells the owner's other streams what changed (after the statement committed, and only what it changed). */
  private publishChanged(owner: Xuid, action: BatchRequest['action'], changed: readonly string[]): void {
    if (changed.length === 0) return;
    if (action === 'delete') this.events.publishDeleted(owner, changed);
    else if (action === 'markRead') this.events.publishRead(owner, changed);
    else this.events.publishUnread(owner, changed);
  }

  private openToken(owner: Xuid, token: string): InboxCursor {
    const decoded = this.tokens.decode(owner, token);
    if (decoded.ok) return decoded.cursor;
    throw new AppError(decoded.reason === 'retired' ? ERRORS.CONTINUATION_TOKEN_EXPIRED : ERRORS.CONTINUATION_TOKEN_INVALID);
  }
}
