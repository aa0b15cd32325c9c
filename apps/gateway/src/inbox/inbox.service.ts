import { Injectable } from '@nestjs/common';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { AppError, ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { ContinuationTokenCodec, InboxCursor } from './continuation-token';
import { InboxEvents } from './events/inbox-events.service';
import { InboxListEntry, InboxMessage, InboxRepository } from './inbox.repository';

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

  /** The message, now marked read. Another inbox's message is "no such message", like one that never was. */
  async readMessage(owner: Xuid, messageId: string): Promise<InboxMessage> {
    const message = await this.inbox.readMessage(owner, messageId);
    if (message === null) throw new AppError(ERRORS.MESSAGE_NOT_FOUND);
    if (message.markedRead) this.events.publishRead(owner, [messageId]);
    return message;
  }

  /** Idempotent: deleting an absent message succeeds. */
  async deleteMessage(owner: Xuid, messageId: string): Promise<void> {
    if (await this.inbox.deleteEntry(owner, messageId)) this.events.publishDeleted(owner, [messageId]);
  }

  private openToken(owner: Xuid, token: string): InboxCursor {
    const decoded = this.tokens.decode(owner, token);
    if (decoded.ok) return decoded.cursor;
    throw new AppError(decoded.reason === 'retired' ? ERRORS.CONTINUATION_TOKEN_EXPIRED : ERRORS.CONTINUATION_TOKEN_INVALID);
  }
}
