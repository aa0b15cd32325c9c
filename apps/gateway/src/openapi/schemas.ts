import type { ReferenceObject, SchemaObject } from '@nestjs/swagger';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { COMMUNICATION_SETTINGS } from '@app/shared/database/entities/user.entity';
import { GAMERTAG_MAX_LENGTH } from '@app/shared/directory/gamertag';
import { BATCH_ACTIONS, MAX_BATCH_IDS } from '../inbox/batch-request';
import { BROADCAST_STATES } from '@app/shared/database/entities/broadcast.entity';
import { MAX_LISTED_RECIPIENTS, MAX_SUBJECT_CODE_POINTS, MAX_SYSTEM_TEXT_CODE_POINTS } from '../admin/system-message-request';
import { MAX_TOKEN_LENGTH } from '../inbox/continuation-token';
import { MAX_RECIPIENTS, MAX_TEXT_CODE_POINTS } from '../outbox/send-request';

/**
 * The JSON shapes of the HTTP surface (docs/api.md) as
 * OpenAPI 3.0 component schemas. The controllers' response types are
 * TypeScript interfaces, which leave no runtime metadata, so the shapes are
 * written out here and referenced by name.
 */
export const SCHEMA = {
  ErrorResponse: 'ErrorResponse',
  Xuid: 'Xuid',
  RecipientByXuid: 'RecipientByXuid',
  RecipientByGamertag: 'RecipientByGamertag',
  Recipient: 'Recipient',
  SendMessageRequest: 'SendMessageRequest',
  MessageHeader: 'MessageHeader',
  InboxItemHeader: 'InboxItemHeader',
  InboxItem: 'InboxItem',
  PagingInfo: 'PagingInfo',
  InboxPage: 'InboxPage',
  MessageDetail: 'MessageDetail',
  InboxSummary: 'InboxSummary',
  ReadStateRequest: 'ReadStateRequest',
  InboxBatchRequest: 'InboxBatchRequest',
  InboxBatchResult: 'InboxBatchResult',
  SendLimits: 'SendLimits',
  UpsertUserRequest: 'UpsertUserRequest',
  User: 'User',
  UserDetail: 'UserDetail',
  ThrottledResponse: 'ThrottledResponse',
  SystemMessageRequest: 'SystemMessageRequest',
  Broadcast: 'Broadcast',
  UnknownRecipientsResponse: 'UnknownRecipientsResponse',
} as const;

export type SchemaName = keyof typeof SCHEMA;

export const ref = (name: SchemaName): ReferenceObject => ({ $ref: `#/components/schemas/${name}` });

const XUID_STRING: SchemaObject = {
  type: 'string',
  pattern: '^[0-9]{1,20}$',
  description: 'An XUID (unsigned 64-bit, 1..18446744073709551615) as a string of decimal digits.',
  example: '2533274790412952',
};

const GAMERTAG: SchemaObject = {
  type: 'string',
  minLength: 1,
  maxLength: GAMERTAG_MAX_LENGTH,
  description: `A gamertag: 1..${GAMERTAG_MAX_LENGTH} characters (letters, digits and single inner spaces).`,
  example: 'GoTeamEmily',
};

const ISO_TIME: SchemaObject = { type: 'string', format: 'date-time', example: '2011-05-08T17:30:00.000Z' };

const MESSAGE_ID: SchemaObject = {
  type: 'string',
  maxLength: 50,
  pattern: '^[A-Za-z0-9_-]{1,50}$',
  description: 'A message id (`header.id` of the listing).',
  example: '01HZX3K5Q8M4V7T2N9B6C1D0EF',
};

// One of the four send limits in GET .../outbox/limits.
const sendLimit = (errorCode: number, description: string, example: [number, number, string | null]): SchemaObject => ({
  type: 'object',
  description: `${description} A send it would refuse is 409 with errorCode ${errorCode}.`,
  required: ['limit', 'used', 'nextFreeAt'],
  properties: {
    limit: { type: 'integer', minimum: 0, description: 'The configured value of the limit.', example: example[0] },
    used: {
      type: 'integer',
      minimum: 0,
      description:
        'What the sends in the rolling window use of it now, counted as the limit counts (recipients dropped for ' +
        'privacy or a block included). Always 0 for the per-message limit.',
      example: example[1],
    },
    nextFreeAt: {
      ...ISO_TIME,
      nullable: true,
      description:
        'When the oldest send in the window that uses some of this limit leaves the window, freeing what it used; ' +
        'null when nothing is used (always, for the per-message limit).',
      example: example[2],
    },
  },
});

const messageHeaderProperties: Record<string, SchemaObject | ReferenceObject> = {
  sent: { ...ISO_TIME, description: 'When the message was sent: ISO 8601 UTC with `Z`.' },
  expiration: {
    ...ISO_TIME,
    example: '2011-06-07T17:30:00.000Z',
    description:
      'When the message expires (`sent` plus the message lifetime, 30 days by default); expired messages are never returned.',
  },
  messageType: {
    type: 'string',
    enum: Object.values(MessageType),
    description: "One of the original service's message types; messages sent through this API are `User`.",
    example: MessageType.User,
  },
  senderXuid: { ...XUID_STRING, example: '123456789', description: "The sender's XUID, always a string of digits." },
  sender: { ...GAMERTAG, example: 'Striker', description: "The sender's gamertag as its owner registered it." },
  hasAudio: { type: 'boolean', example: false },
  hasPhoto: { type: 'boolean', example: false },
  hasText: { type: 'boolean', example: true },
  messageFolderType: {
    type: 'string',
    enum: ['Inbox'],
    description: 'Always `Inbox`: the real service sends it and client libraries require it.',
    example: 'Inbox',
  },
};

const ALWAYS_NULL = (description: string, type: SchemaObject['type']): SchemaObject => ({
  type,
  nullable: true,
  enum: [null],
  description,
  example: null,
});

export const SCHEMAS: Record<SchemaName, SchemaObject> = {
  ErrorResponse: {
    type: 'object',
    description:
      'The `errorResponse` every 4xx and 5xx response carries. `errorCode` values are stable per condition (docs/errors.md).',
    required: ['errorSource', 'errorCode', 'errorMessage'],
    properties: {
      errorSource: {
        type: 'string',
        description:
          'The part of the service that refused the request (`gateway`, `auth`, `outbox`, `quota`, `inbox`, `admin`).',
        example: 'inbox',
      },
      errorCode: {
        type: 'integer',
        nullable: true,
        description: 'A stable number per condition (docs/errors.md). Clients may switch on it.',
        example: 6004,
      },
      errorMessage: {
        type: 'string',
        description: 'What was wrong (which field, which limit). Never a stack trace; do not parse it.',
        example: 'skipItems is 7, larger than the 5 messages in the inbox.',
      },
    },
  },

  ThrottledResponse: {
    description:
      'A 429: the errorResponse, plus the figures of the limit that refused the request (docs/api.md, Request throttling).',
    allOf: [
      { $ref: '#/components/schemas/ErrorResponse' },
      {
        type: 'object',
        required: ['version', 'type', 'currentRequests', 'maxRequests', 'periodInSeconds'],
        properties: {
          version: { type: 'integer', enum: [1], description: 'The version of this body.' },
          type: {
            type: 'string',
            enum: ['burst', 'sustain', 'authentication'],
            description:
              "Which limit: the caller's burst or sustain window, or failed authentications from the client address.",
          },
          currentRequests: { type: 'integer', description: 'Requests counted in the window, this one included.', example: 61 },
          maxRequests: { type: 'integer', description: 'The limit of the window.', example: 60 },
          periodInSeconds: { type: 'integer', description: 'The length of the window.', example: 15 },
        },
      },
    ],
  },

  Xuid: {
    description:
      'A recipient XUID: a JSON number or a string of decimal digits, 1..18446744073709551615. ' +
      'Numbers above 2^53 are read exactly; leading zeros are accepted and normalised.',
    oneOf: [
      { type: 'string', pattern: '^[0-9]+$', example: '2533274790412952' },
      { type: 'integer', minimum: 1, example: 2533274790412952 },
    ],
  },

  RecipientByXuid: {
    type: 'object',
    description: 'A recipient named by XUID. Has no `gamertag`.',
    required: ['xuid'],
    properties: { xuid: ref('Xuid') },
    example: { xuid: '2533274790412952' },
  },

  RecipientByGamertag: {
    type: 'object',
    description: 'A recipient named by gamertag (compared without regard to case). Has no `xuid`.',
    required: ['gamertag'],
    properties: { gamertag: GAMERTAG },
    example: { gamertag: 'GoTeamEmily' },
  },

  Recipient: {
    description:
      'Exactly one of `xuid` and `gamertag` (an entry with both or neither is 400). ' +
      'The same user named twice, by either form, counts once.',
    oneOf: [ref('RecipientByXuid'), ref('RecipientByGamertag')],
  },

  SendMessageRequest: {
    type: 'object',
    description: 'Body of a send. Unknown extra properties are ignored.',
    required: ['header', 'messageText'],
    properties: {
      header: {
        type: 'object',
        required: ['recipients'],
        properties: {
          recipients: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_RECIPIENTS,
            items: ref('Recipient'),
            description: `1..${MAX_RECIPIENTS} recipients.`,
          },
        },
      },
      messageText: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_TEXT_CODE_POINTS,
        description:
          `1..${MAX_TEXT_CODE_POINTS} characters counted in Unicode code points (an emoji is one character); ` +
          'text with an unpaired surrogate (or U+0000) is refused.',
        example: 'random user text',
      },
    },
    example: {
      header: { recipients: [{ gamertag: 'GoTeamEmily' }, { xuid: '2533274790412952' }] },
      messageText: 'random user text',
    },
  },

  MessageHeader: {
    type: 'object',
    required: Object.keys(messageHeaderProperties),
    properties: messageHeaderProperties,
  },

  InboxItemHeader: {
    type: 'object',
    required: ['id', 'isRead', ...Object.keys(messageHeaderProperties)],
    properties: {
      id: {
        type: 'string',
        maxLength: 50,
        pattern: '^[A-Za-z0-9_-]{1,50}$',
        description: 'The message id: opaque, URL-safe, at most 50 characters; newer messages sort after older ones.',
        example: '01HZX3K5Q8M4V7T2N9B6C1D0EF',
      },
      isRead: { type: 'boolean', description: 'Whether the owner has read the message.', example: false },
      ...messageHeaderProperties,
    },
  },

  InboxItem: {
    type: 'object',
    required: ['header', 'messageSummary'],
    properties: {
      header: ref('InboxItemHeader'),
      messageSummary: {
        type: 'string',
        description:
          "The first 20 code points of the text of a user message (never half an emoji); a system message's subject.",
        example: 'first 20 chars',
      },
    },
  },

  PagingInfo: {
    type: 'object',
    required: ['continuationToken', 'totalItems'],
    properties: {
      continuationToken: {
        type: 'string',
        nullable: true,
        maxLength: MAX_TOKEN_LENGTH,
        description: 'Pass as `continuationToken` to read the next page; `null` on the last page.',
        example: null,
      },
      totalItems: {
        type: 'integer',
        minimum: 0,
        description: 'The number of unexpired messages in the inbox now.',
        example: 5,
      },
    },
  },

  InboxPage: {
    type: 'object',
    description: 'One page of the inbox, newest first (by `sent`, ties by id).',
    required: ['results', 'pagingInfo'],
    properties: {
      results: { type: 'array', items: ref('InboxItem') },
      pagingInfo: ref('PagingInfo'),
    },
  },

  MessageDetail: {
    type: 'object',
    description: 'A whole message. `attachmentId` and `attachment` are always null: this service sends no attachments.',
    required: ['header', 'messageText', 'attachmentId', 'attachment'],
    properties: {
      header: ref('MessageHeader'),
      messageText: { type: 'string', description: 'The whole text.', example: 'the whole text' },
      attachmentId: ALWAYS_NULL('Always null (no attachments); present because clients expect it.', 'string'),
      attachment: ALWAYS_NULL('Always null (no attachments); present because clients expect it.', 'object'),
    },
  },

  InboxSummary: {
    type: 'object',
    description: 'The counts of the inbox now, exact.',
    required: ['totalItems', 'unreadItems'],
    properties: {
      totalItems: {
        type: 'integer',
        minimum: 0,
        description: 'Unexpired messages in the inbox: the `totalItems` a listing would show now.',
        example: 5,
      },
      unreadItems: {
        type: 'integer',
        minimum: 0,
        description: 'Of those, the messages not read (never read, or marked unread since).',
        example: 2,
      },
    },
  },

  ReadStateRequest: {
    type: 'object',
    description: 'Body of PUT .../inbox/{messageId}/read-state. Unknown properties are ignored.',
    required: ['isRead'],
    properties: { isRead: { type: 'boolean', description: '`true` marks the message read, `false` unread.' } },
    example: { isRead: false },
  },

  InboxBatchRequest: {
    type: 'object',
    description: 'Body of POST .../inbox/batch. Unknown properties are ignored.',
    required: ['action', 'messageIds'],
    properties: {
      action: {
        type: 'string',
        enum: [...BATCH_ACTIONS],
        description: '`delete` the messages, or mark them read (`markRead`) or unread (`markUnread`).',
      },
      messageIds: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BATCH_IDS,
        items: MESSAGE_ID,
        description: `1..${MAX_BATCH_IDS} message ids; a bad entry is 400 naming its index; an id repeated counts once.`,
      },
    },
    example: { action: 'markRead', messageIds: ['01HZX3K5Q8M4V7T2N9B6C1D0EF'] },
  },

  InboxBatchResult: {
    type: 'object',
    required: ['changedIds'],
    properties: {
      changedIds: {
        type: 'array',
        items: MESSAGE_ID,
        description:
          'The ids whose state this call changed (deleted; or marked, having been in the other state), sorted. ' +
          'Ids the inbox does not have, and marks a message already had, are left out.',
      },
    },
    example: { changedIds: ['01HZX3K5Q8M4V7T2N9B6C1D0EF'] },
  },

  SendLimits: {
    type: 'object',
    description:
      "The caller's four send limits: each one's value, what is used of it now and when the next unit frees up " +
      '(docs/api.md, Limits).',
    required: [
      'asOf',
      'windowSeconds',
      'messagesPerWindow',
      'recipientsPerWindow',
      'strangersPerWindow',
      'strangersPerMessage',
    ],
    properties: {
      asOf: { ...ISO_TIME, description: "The service's time the figures hold at." },
      windowSeconds: { type: 'integer', minimum: 1, description: 'The length of the rolling window.', example: 86400 },
      messagesPerWindow: sendLimit(5002, 'Messages sent in the window.', [250, 3, '2011-05-09T17:30:00.000Z']),
      recipientsPerWindow: sendLimit(5003, 'Recipients (friends and strangers) of the sends in the window.', [
        2500,
        7,
        '2011-05-09T17:30:00.000Z',
      ]),
      strangersPerWindow: sendLimit(5004, 'Strangers among the recipients of the sends in the window.', [
        200,
        2,
        '2011-05-09T17:42:10.000Z',
      ]),
      strangersPerMessage: sendLimit(5001, 'Strangers in one message: no window, so `used` is 0 and `nextFreeAt` null.', [
        20,
        0,
        null,
      ]),
    },
  },

  UpsertUserRequest: {
    type: 'object',
    description: 'Body of PUT /admin/users/{xuid}. Unknown properties are dropped.',
    required: ['gamertag'],
    properties: {
      gamertag: { ...GAMERTAG, description: 'Unique without regard to case: a gamertag another user holds is 409.' },
      communication: {
        type: 'string',
        enum: [...COMMUNICATION_SETTINGS],
        description:
          'Who may message this user. Defaults to `everyone` for a new user; unchanged for an existing one when omitted.',
        example: 'everyone',
      },
    },
    example: { gamertag: 'Striker', communication: 'everyone' },
  },

  User: {
    type: 'object',
    required: ['xuid', 'gamertag', 'communication'],
    properties: {
      xuid: XUID_STRING,
      gamertag: { ...GAMERTAG, example: 'Striker' },
      communication: { type: 'string', enum: [...COMMUNICATION_SETTINGS], example: 'everyone' },
    },
  },

  UserDetail: {
    type: 'object',
    required: ['xuid', 'gamertag', 'communication', 'friends', 'blocks'],
    properties: {
      xuid: XUID_STRING,
      gamertag: { ...GAMERTAG, example: 'GoTeamEmily' },
      communication: { type: 'string', enum: [...COMMUNICATION_SETTINGS], example: 'friends' },
      friends: { type: 'array', items: XUID_STRING, description: "XUIDs of the user's friends (mutual)." },
      blocks: { type: 'array', items: XUID_STRING, description: 'XUIDs this user blocks.' },
    },
  },
  SystemMessageRequest: {
    type: 'object',
    description: 'Body of POST /admin/system-messages. An unknown property is 400 (7010).',
    required: ['subject', 'messageText', 'recipients'],
    properties: {
      subject: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_SUBJECT_CODE_POINTS,
        description: `1..${MAX_SUBJECT_CODE_POINTS} Unicode code points: every recipient's messageSummary.`,
        example: 'Patch notes 1.2',
      },
      messageText: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_SYSTEM_TEXT_CODE_POINTS,
        description: `1..${MAX_SYSTEM_TEXT_CODE_POINTS} Unicode code points: the detail view's text.`,
        example: 'Season 3 starts Friday: new maps, ranked fixes.',
      },
      recipients: {
        oneOf: [
          { type: 'string', enum: ['all'], description: 'Every user in the directory at the moment of the call.' },
          {
            type: 'array',
            minItems: 1,
            maxItems: MAX_LISTED_RECIPIENTS,
            items: { oneOf: [{ type: 'string', pattern: '^[0-9]+$' }, { type: 'integer' }] },
            description: `1..${MAX_LISTED_RECIPIENTS} XUIDs (strings or numbers, repeats count once), every one in the directory.`,
          },
        ],
      },
      expiresInSeconds: {
        type: 'integer',
        minimum: 1,
        description: 'Lifetime of the message, at most MESSAGE_TTL_SECONDS (also the default).',
      },
    },
    example: { subject: 'Patch notes 1.2', messageText: 'Season 3 starts Friday.', recipients: 'all' },
  },

  Broadcast: {
    type: 'object',
    required: [
      'id',
      'state',
      'subject',
      'recipients',
      'targeted',
      'delivered',
      'chunks',
      'chunksDone',
      'created',
      'finished',
      'expiration',
    ],
    properties: {
      id: {
        type: 'string',
        description: 'The broadcast id, also the message id in every inbox.',
        example: '01JC8Z9G4W5N7Q2R3S4T5V6W7X',
      },
      state: { type: 'string', enum: [...BROADCAST_STATES], example: 'running' },
      subject: { type: 'string', example: 'Patch notes 1.2' },
      recipients: { type: 'string', enum: ['all', 'list'], description: 'How it was addressed.' },
      targeted: { type: 'integer', description: 'Recipients at the call (the listed XUIDs, or the directory then).' },
      delivered: { type: 'integer', description: 'Inbox entries written so far.' },
      chunks: { type: 'integer', description: 'Parts the recipients were cut into (BROADCAST_CHUNK_SIZE each).' },
      chunksDone: { type: 'integer', description: 'Chunks written (a cancelled broadcast stops short).' },
      created: { type: 'string', format: 'date-time' },
      finished: { type: 'string', format: 'date-time', nullable: true, description: 'When it became done or cancelled.' },
      expiration: { type: 'string', format: 'date-time' },
    },
  },

  UnknownRecipientsResponse: {
    description: 'A 404 of POST /admin/system-messages: the errorResponse, plus every listed XUID no user has.',
    allOf: [
      { $ref: '#/components/schemas/ErrorResponse' },
      {
        type: 'object',
        required: ['unknownXuids'],
        properties: {
          unknownXuids: { type: 'array', items: XUID_STRING, description: 'In ascending order.' },
        },
      },
    ],
  },
};
