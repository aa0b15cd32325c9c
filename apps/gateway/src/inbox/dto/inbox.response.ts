import { MessageType } from '@app/shared/database/entities/message.entity';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { InboxListEntry, InboxMessage } from '../inbox.repository';
import { InboxPage } from '../inbox.service';

/** The real service sends it and client libraries require it (docs/api.md, List the inbox). */
const INBOX_FOLDER = 'Inbox';

export interface MessageHeaderResponse {
  sent: string;
  expiration: string;
  messageType: MessageType;
  senderXuid: string;
  sender: string;
  hasAudio: boolean;
  hasPhoto: boolean;
  hasText: boolean;
  messageFolderType: typeof INBOX_FOLDER;
}

export interface InboxItemHeaderResponse extends MessageHeaderResponse {
  id: string;
  isRead: boolean;
}

export interface InboxItemResponse {
  header: InboxItemHeaderResponse;
  messageSummary: string;
}

export interface InboxPageResponse {
  results: InboxItemResponse[];
  pagingInfo: { continuationToken: string | null; totalItems: number };
}

export interface MessageDetailResponse {
  header: MessageHeaderResponse;
  messageText: string;
  /** Always null: this service sends no attachments, but clients expect the properties. */
  attachmentId: null;
  attachment: null;
}

/** ISO 8601 UTC with milliseconds: a message's send time is its id's. */
const sentIso = (messageId: string): string => new Date(sentOfMessageId(messageId)).toISOString();
const isoFromMillis = (millis: string): string => new Date(Number(millis)).toISOString();

// Property order follows the examples of docs/api.md (the real service's order).
export const toInboxItem = (entry: InboxListEntry): InboxItemResponse => ({
  header: {
    id: entry.messageId,
    isRead: entry.isRead,
    sent: sentIso(entry.messageId),
    expiration: isoFromMillis(entry.expirationMillis),
    messageType: entry.messageType,
    senderXuid: entry.senderXuid,
    sender: entry.sender,
    hasAudio: false,
    hasPhoto: false,
    hasText: true,
    messageFolderType: INBOX_FOLDER,
  },
  messageSummary: entry.summary,
});

export const toInboxPage = (page: InboxPage): InboxPageResponse => ({
  results: page.entries.map(toInboxItem),
  pagingInfo: { continuationToken: page.continuationToken, totalItems: page.totalItems },
});

export const toMessageDetail = (message: InboxMessage): MessageDetailResponse => ({
  header: {
    sent: sentIso(message.messageId),
    expiration: isoFromMillis(message.expirationMillis),
    messageType: message.messageType,
    senderXuid: message.senderXuid,
    sender: message.sender,
    hasAudio: false,
    hasPhoto: false,
    hasText: true,
    messageFolderType: INBOX_FOLDER,
  },
  messageText: message.text,
  attachmentId: null,
  attachment: null,
});
