import type { ApiBodyOptions, ApiHeaderOptions, ApiParamOptions, ApiQueryOptions } from '@nestjs/swagger';
import { MAX_TOKEN_LENGTH } from '../inbox/continuation-token';
import { ref } from './schemas';

/** Security scheme names (see openapi.ts). User routes accept either user scheme. */
export const SECURITY = {
  /** `Authorization: XBL3.0 x=<userhash>;<jwt>` (or the whole `Bearer <jwt>` value). */
  userXbl3: 'xbl3',
  /** `Authorization: Bearer <jwt>`. */
  userBearer: 'userBearer',
  /** `Authorization: Bearer <ADMIN_TOKEN>`. */
  adminBearer: 'adminBearer',
} as const;

/** Tag names, in the order the document lists them. */
export const TAG = {
  outbox: 'outbox',
  inbox: 'inbox',
  admin: 'admin',
  health: 'health',
} as const;

const XUID_DIGITS = { type: 'string', pattern: '^[0-9]+$', example: '2533274790412952' } as const;

/**
 * The XUID inside the literal `xuid(...)` user segment. The Nest route names
 * the whole segment `:user`; the document shows the contract's path
 * `/users/xuid({xuid})/...` (openapi.ts rewrites the path keys).
 */
export const USER_XUID_PARAM: ApiParamOptions = {
  name: 'xuid',
  description:
    "The user's XUID (decimal, 1..18446744073709551615), written inside the literal path segment `xuid(...)`, as in " +
    '`/users/xuid(2533274790412952)/inbox`. The parentheses may be percent-encoded: `xuid%282533274790412952%29` ' +
    'is the same path. Must be the XUID of the token.',
  schema: XUID_DIGITS,
};

export const ADMIN_XUID_PARAM: ApiParamOptions = {
  name: 'xuid',
  description: "The user's XUID: decimal digits (leading zeros are normalised), or the `xuid(digits)` form of the user routes.",
  schema: XUID_DIGITS,
};

/** The Nest route calls it `:other`; the document shows `{otherXuid}` (openapi.ts renames it). */
export const ADMIN_OTHER_XUID_PARAM: ApiParamOptions = {
  name: 'other',
  description: "The other user's XUID, in the same forms as `xuid`.",
  schema: { ...XUID_DIGITS, example: '2533274790412953' },
};

export const MESSAGE_ID_PARAM: ApiParamOptions = {
  name: 'messageId',
  description: 'A message id from the inbox listing: 1..50 characters of `A-Z a-z 0-9 _ -`; anything else is 404.',
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,50}$', maxLength: 50 },
};

export const CONTRACT_VERSION_HEADER: ApiHeaderOptions = {
  name: 'x-xbl-contract-version',
  required: false,
  description: 'Absent or `1`; any other value is 400 (errorCode 1005).',
  schema: { type: 'string', enum: ['1'] },
};

export const LAST_EVENT_ID_HEADER: ApiHeaderOptions = {
  name: 'Last-Event-ID',
  required: false,
  description:
    'The id of the last event received, which EventSource sends by itself when it reconnects: the stream then starts with ' +
    'every message delivered after that event. Garbage, or an id of another inbox, is 400 (errorCode 6020).',
  schema: { type: 'string', maxLength: 64 },
};

export const IDEMPOTENCY_KEY_HEADER: ApiHeaderOptions = {
  name: 'Idempotency-Key',
  required: false,
  description:
    '1..255 visible ASCII characters (an extension beyond the original service). A retry with the same key and body ' +
    'within 24 hours answers 200 again without sending or charging twice; the same key with another body is 422; a ' +
    'retry that arrives while the first is still running waits for it. Only accepted sends are remembered.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]{1,255}$' },
};

export const MAX_ITEMS_QUERY: ApiQueryOptions = {
  name: 'maxItems',
  required: false,
  description: 'Page size: an integer 1..100 written in decimal digits. Default 25.',
  schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
};

export const SKIP_ITEMS_QUERY: ApiQueryOptions = {
  name: 'skipItems',
  required: false,
  description:
    'Messages to skip from the newest: an integer 0..100. More than the inbox holds is 416. Ignored (not even validated) ' +
    'when `continuationToken` is present.',
  schema: { type: 'integer', minimum: 0, maximum: 100, default: 0 },
};

export const CONTINUATION_TOKEN_QUERY: ApiQueryOptions = {
  name: 'continuationToken',
  required: false,
  description:
    'The opaque `pagingInfo.continuationToken` of the previous page. Enumerating with tokens while messages arrive or ' +
    'are deleted returns every message that existed at the start and was not deleted, exactly once, in order.',
  schema: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LENGTH },
};

export const SEND_MESSAGE_BODY: ApiBodyOptions = {
  required: true,
  description: 'Content-Type must be `application/json` (parameters such as `charset=utf-8` allowed); at most 64 KiB.',
  schema: ref('SendMessageRequest'),
};

export const READ_STATE_BODY: ApiBodyOptions = {
  required: true,
  description: 'Content-Type must be `application/json`.',
  schema: ref('ReadStateRequest'),
};

export const BATCH_BODY: ApiBodyOptions = {
  required: true,
  description: 'Content-Type must be `application/json`; at most 64 KiB.',
  schema: ref('InboxBatchRequest'),
};

export const UPSERT_USER_BODY: ApiBodyOptions = {
  required: true,
  description: 'Content-Type must be `application/json`.',
  schema: ref('UpsertUserRequest'),
};

export const SYSTEM_MESSAGE_BODY: ApiBodyOptions = {
  required: true,
  description: 'Content-Type must be `application/json`; at most 1 MiB.',
  schema: ref('SystemMessageRequest'),
};

export const BROADCAST_ID_PARAM: ApiParamOptions = {
  name: 'id',
  description: 'The id POST /admin/system-messages answered.',
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,50}$', maxLength: 50 },
};

export const BROADCAST_IDEMPOTENCY_KEY_HEADER: ApiHeaderOptions = {
  name: 'Idempotency-Key',
  required: false,
  description:
    '1..255 visible ASCII characters. A retry with the same key and body answers 202 with the broadcast the first ' +
    'created (its current state), without a second broadcast, for as long as that broadcast exists; the same key ' +
    'with another body is 422.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]{1,255}$' },
};
