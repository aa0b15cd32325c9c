import { applyDecorators } from '@nestjs/common';
import { ApiResponse, HeaderObject } from '@nestjs/swagger';
import { ErrorDefinition, ERRORS } from '@app/shared/errors';
import { ref, SchemaName } from './schemas';

/** One documented error status of an operation: when it happens, and which errorCodes it carries. */
export interface ErrorResponseDoc {
  status: number;
  when: string;
  errors: ErrorDefinition[];
  /** Whether (some of) these responses set `Retry-After`, and when. */
  retryAfter?: string;
  /** The error shown as the example; the first of `errors` by default. */
  example?: ErrorDefinition;
  /** The body's schema: ErrorResponse unless it carries more. */
  schema?: SchemaName;
  /** Fields the example carries besides the errorResponse's. */
  exampleDetails?: Record<string, string | number | string[]>;
}

const RETRY_AFTER = (description: string): Record<string, HeaderObject> => ({
  'Retry-After': { description, schema: { type: 'integer', minimum: 0 } },
});

const nameOf = (definition: ErrorDefinition): string =>
  Object.entries(ERRORS).find(([, candidate]) => candidate === definition)?.[0] ?? String(definition.code);

/** The response's description: when, then a list of the errorCodes (from the catalog, docs/errors.md). */
function describe(doc: ErrorResponseDoc): string {
  const codes = doc.errors.map((error) => `- \`${error.code}\` ${nameOf(error)} (\`${error.source}\`): ${error.message}`);
  return `${doc.when}\n\nerrorCode:\n${codes.join('\n')}`;
}

/** Documents each error status with the ErrorResponse schema, its errorCodes and an example. */
export const ApiErrorResponses = (docs: ErrorResponseDoc[]): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ...docs.map((doc) => {
      for (const error of doc.errors) {
        if (error.status !== doc.status) {
          throw new Error(`errorCode ${error.code} is ${error.status}, documented under ${doc.status}`);
        }
      }
      const shown = doc.example ?? doc.errors[0];
      return ApiResponse({
        status: doc.status,
        description: describe(doc),
        headers: doc.retryAfter ? RETRY_AFTER(doc.retryAfter) : undefined,
        content: {
          'application/json': {
            schema: ref(doc.schema ?? 'ErrorResponse'),
            example: { errorSource: shown.source, errorCode: shown.code, errorMessage: shown.message, ...doc.exampleDetails },
          },
        },
      });
    }),
  );

// ---- responses several operations share -------------------------------------------------

const USER_401: ErrorResponseDoc = {
  status: 401,
  when: 'No valid user token: `Authorization` is missing or malformed, or the JWT is badly signed, expired or has unacceptable claims.',
  errors: [
    ERRORS.TOKEN_MISSING,
    ERRORS.AUTHORIZATION_MALFORMED,
    ERRORS.TOKEN_INVALID,
    ERRORS.TOKEN_EXPIRED,
    ERRORS.TOKEN_CLAIMS_INVALID,
  ],
};

const CONTRACT_VERSION_400: ErrorResponseDoc = {
  status: 400,
  when: '`x-xbl-contract-version` is present and is not `1`.',
  errors: [ERRORS.UNSUPPORTED_CONTRACT_VERSION],
};

const INTERNAL_500: ErrorResponseDoc = {
  status: 500,
  when: 'An unexpected server error. The message carries an error id that is logged with the details.',
  errors: [ERRORS.INTERNAL],
};

const DEPENDENCY_503: ErrorResponseDoc = {
  status: 503,
  when: 'A dependency (Postgres, Redis, the quota service or the token signing keys) is unavailable. Nothing was done; retry after `Retry-After` seconds.',
  errors: [ERRORS.DEPENDENCY_UNAVAILABLE],
  retryAfter: 'Whole seconds to wait before retrying.',
};

const INBOX_PATH_404 = [ERRORS.INBOX_XUID_INVALID, ERRORS.ROUTE_NOT_FOUND];

const THROTTLED_RETRY_AFTER = 'Whole seconds until the window that refused the request ends.';

const USER_429: ErrorResponseDoc = {
  status: 429,
  when:
    'Throttled: the caller passed their burst or sustain request limit (every request counts, refused ones too), or this address ' +
    'failed authentication too often (a valid token still passes). `type` says which limit.',
  errors: [ERRORS.REQUESTS_THROTTLED, ERRORS.AUTHENTICATION_THROTTLED],
  retryAfter: THROTTLED_RETRY_AFTER,
  schema: 'ThrottledResponse',
  exampleDetails: { version: 1, type: 'burst', currentRequests: 61, maxRequests: 60, periodInSeconds: 15 },
};

const ADMIN_429: ErrorResponseDoc = {
  status: 429,
  when: 'This address presented a wrong admin token too often; the right one still passes.',
  errors: [ERRORS.AUTHENTICATION_THROTTLED],
  retryAfter: THROTTLED_RETRY_AFTER,
  schema: 'ThrottledResponse',
  exampleDetails: { version: 1, type: 'authentication', currentRequests: 31, maxRequests: 30, periodInSeconds: 60 },
};

const ADMIN_401: ErrorResponseDoc = {
  status: 401,
  when: 'The admin route is called without `Authorization: Bearer <ADMIN_TOKEN>`, or with a wrong token.',
  errors: [ERRORS.ADMIN_UNAUTHORIZED],
};

const ADMIN_XUID_400 = ERRORS.ADMIN_XUID_INVALID;

// ---- per operation (docs/api.md, docs/errors.md) ----------------------------------------

export const SEND_MESSAGE_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when:
      'The body is not JSON or not an object; Content-Type is not `application/json`; `header.recipients` is missing, ' +
      'empty or has more than 20 entries; an entry has both or neither of `xuid`/`gamertag`; `messageText` is missing, ' +
      'not a string, empty, longer than 250 code points or invalid Unicode; a bad `x-xbl-contract-version`; a malformed `Idempotency-Key`.',
    errors: [
      ERRORS.INVALID_JSON,
      ERRORS.UNSUPPORTED_CONTENT_TYPE,
      ERRORS.UNSUPPORTED_CONTRACT_VERSION,
      ERRORS.BAD_REQUEST,
      ERRORS.OUTBOX_BODY_INVALID,
      ERRORS.RECIPIENTS_INVALID,
      ERRORS.RECIPIENT_AMBIGUOUS,
      ERRORS.MESSAGE_TEXT_INVALID,
      ERRORS.IDEMPOTENCY_KEY_INVALID,
    ],
  },
  USER_401,
  {
    status: 403,
    when:
      "The token's XUID differs from the path XUID; the sender is not gold; the path XUID or a recipient XUID cannot be converted; " +
      'the sender is not in the directory and cannot be added from the token.',
    errors: [
      ERRORS.FORBIDDEN_USER,
      ERRORS.NOT_GOLD,
      ERRORS.SENDER_XUID_INVALID,
      ERRORS.RECIPIENT_XUID_INVALID,
      ERRORS.SENDER_UNKNOWN,
    ],
  },
  {
    status: 404,
    when: 'A gamertag is invalid or no user has it; no user has a recipient XUID; the user segment is not `xuid(...)`.',
    errors: [ERRORS.GAMERTAG_INVALID, ERRORS.RECIPIENT_NOT_FOUND, ERRORS.ROUTE_NOT_FOUND],
  },
  {
    status: 409,
    when: 'A limit would be exceeded (rolling 24-hour window per sender by default). Nothing is sent and nothing is counted; `errorMessage` names the limit.',
    errors: [
      ERRORS.LIMIT_STRANGERS_PER_MESSAGE,
      ERRORS.LIMIT_MESSAGES_PER_WINDOW,
      ERRORS.LIMIT_RECIPIENTS_PER_WINDOW,
      ERRORS.LIMIT_STRANGERS_PER_WINDOW,
    ],
    retryAfter: 'Set for the rolling-window limits (5002-5004): whole seconds until this same send would fit. Absent for 5001.',
    example: ERRORS.LIMIT_MESSAGES_PER_WINDOW,
  },
  { status: 413, when: 'The body is larger than 64 KiB.', errors: [ERRORS.PAYLOAD_TOO_LARGE] },
  {
    status: 422,
    when: 'The `Idempotency-Key` was used in the last 24 hours with a different body.',
    errors: [ERRORS.IDEMPOTENCY_KEY_REUSED],
  },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const LIST_INBOX_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when:
      'A parameter is not an integer, out of range or repeated; the continuation token was tampered with, is garbage or belongs ' +
      'to another inbox; a bad `x-xbl-contract-version`.',
    errors: [ERRORS.INBOX_PARAMETER_INVALID, ERRORS.CONTINUATION_TOKEN_INVALID, ERRORS.UNSUPPORTED_CONTRACT_VERSION],
  },
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  {
    status: 404,
    when: 'The path has no valid XUID (`xuid()`, `xuid(abc)`, out of range) or the user segment is not `xuid(...)`.',
    errors: INBOX_PATH_404,
  },
  {
    status: 409,
    when: 'The continuation token can no longer be honoured (issued under a retired signing key or format): start the enumeration again.',
    errors: [ERRORS.CONTINUATION_TOKEN_EXPIRED],
  },
  {
    status: 416,
    when: '`skipItems` (within 0..100) is larger than the number of messages in the inbox.',
    errors: [ERRORS.SKIP_PAST_END],
  },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const READ_MESSAGE_ERRORS: ErrorResponseDoc[] = [
  CONTRACT_VERSION_400,
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  {
    status: 404,
    when:
      'No valid XUID in the path; the message id is malformed (over 50 characters, bad characters); no such message in this ' +
      "inbox (including another user's message, a deleted one, an expired one).",
    errors: [...INBOX_PATH_404, ERRORS.MESSAGE_ID_INVALID, ERRORS.MESSAGE_NOT_FOUND],
  },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const DELETE_MESSAGE_ERRORS: ErrorResponseDoc[] = [
  CONTRACT_VERSION_400,
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  {
    status: 404,
    when: 'No valid XUID in the path, or the message id is malformed. A well-formed id of a missing message is 204.',
    errors: [...INBOX_PATH_404, ERRORS.MESSAGE_ID_INVALID],
  },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const INBOX_SUMMARY_ERRORS: ErrorResponseDoc[] = [
  CONTRACT_VERSION_400,
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  { status: 404, when: 'No valid XUID in the path, or the user segment is not `xuid(...)`.', errors: INBOX_PATH_404 },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

const BODY_400 = [
  ERRORS.INVALID_JSON,
  ERRORS.UNSUPPORTED_CONTENT_TYPE,
  ERRORS.UNSUPPORTED_CONTRACT_VERSION,
  ERRORS.BAD_REQUEST,
];

export const READ_STATE_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when: 'The body is not JSON, not `application/json`, or not `{"isRead": true|false}`; a bad `x-xbl-contract-version`.',
    errors: [ERRORS.READ_STATE_BODY_INVALID, ...BODY_400],
  },
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  {
    status: 404,
    when: 'No valid XUID in the path; the message id is malformed; no such unexpired message in this inbox (as for a read).',
    errors: [...INBOX_PATH_404, ERRORS.MESSAGE_ID_INVALID, ERRORS.MESSAGE_NOT_FOUND],
  },
  { status: 413, when: 'The body is larger than 64 KiB.', errors: [ERRORS.PAYLOAD_TOO_LARGE] },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const BATCH_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when:
      'The body is not JSON, not `application/json` or not an object; `action` is not one of the three; `messageIds` is ' +
      'not a list of 1..100 entries, or an entry is not a well-formed message id (the message names its index).',
    errors: [ERRORS.BATCH_BODY_INVALID, ERRORS.BATCH_MESSAGE_IDS_INVALID, ...BODY_400],
    example: ERRORS.BATCH_MESSAGE_IDS_INVALID,
  },
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  { status: 404, when: 'No valid XUID in the path, or the user segment is not `xuid(...)`.', errors: INBOX_PATH_404 },
  { status: 413, when: 'The body is larger than 64 KiB.', errors: [ERRORS.PAYLOAD_TOO_LARGE] },
  USER_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const SEND_LIMITS_ERRORS: ErrorResponseDoc[] = [
  CONTRACT_VERSION_400,
  USER_401,
  {
    status: 403,
    when: "The token's XUID differs from the path XUID, or the path XUID cannot be converted (as for a send).",
    errors: [ERRORS.FORBIDDEN_USER, ERRORS.SENDER_XUID_INVALID],
  },
  { status: 404, when: 'The user segment is not `xuid(...)`.', errors: [ERRORS.ROUTE_NOT_FOUND] },
  USER_429,
  INTERNAL_500,
  {
    ...DEPENDENCY_503,
    when: 'The quota service (or the database, or the token signing keys) is unavailable; retry after `Retry-After` seconds.',
  },
];

export const GET_USER_ERRORS: ErrorResponseDoc[] = [
  { status: 400, when: 'The XUID in the path cannot be converted.', errors: [ADMIN_XUID_400] },
  ADMIN_401,
  { status: 404, when: 'No user has this XUID.', errors: [ERRORS.USER_NOT_FOUND] },
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const UPSERT_USER_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when: 'The path XUID cannot be converted; the body is not JSON, not `application/json`, not an object, or fails validation.',
    errors: [ADMIN_XUID_400, ERRORS.ADMIN_VALIDATION, ERRORS.INVALID_JSON, ERRORS.UNSUPPORTED_CONTENT_TYPE, ERRORS.BAD_REQUEST],
  },
  ADMIN_401,
  {
    status: 409,
    when: 'Another user already has this gamertag (compared without regard to case).',
    errors: [ERRORS.GAMERTAG_TAKEN],
  },
  { status: 413, when: 'The body is larger than 64 KiB.', errors: [ERRORS.PAYLOAD_TOO_LARGE] },
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const ADD_RELATION_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when: 'A path XUID cannot be converted, or both XUIDs name the same user.',
    errors: [ADMIN_XUID_400, ERRORS.ADMIN_VALIDATION],
  },
  ADMIN_401,
  { status: 404, when: 'Either user does not exist.', errors: [ERRORS.USER_NOT_FOUND] },
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const REMOVE_RELATION_ERRORS: ErrorResponseDoc[] = [
  { status: 400, when: 'A path XUID cannot be converted.', errors: [ADMIN_XUID_400] },
  ADMIN_401,
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const INBOX_EVENTS_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when: '`Last-Event-ID` is garbage, was altered, belongs to another inbox or is given twice; a bad `x-xbl-contract-version`.',
    errors: [ERRORS.EVENT_ID_INVALID, ERRORS.UNSUPPORTED_CONTRACT_VERSION],
  },
  USER_401,
  { status: 403, when: "The token's XUID differs from the path XUID.", errors: [ERRORS.FORBIDDEN_USER] },
  {
    status: 404,
    when: 'The path has no valid XUID (`xuid()`, `xuid(abc)`, out of range) or the user segment is not `xuid(...)`.',
    errors: INBOX_PATH_404,
  },
  USER_429,
  INTERNAL_500,
  {
    ...DEPENDENCY_503,
    when: 'Postgres or Redis is unavailable, or this gateway is shutting down: no stream was opened; retry after `Retry-After` seconds.',
  },
];

// ---- system messages (docs/api.md, System messages) -------------------------------------

export const CREATE_SYSTEM_MESSAGE_ERRORS: ErrorResponseDoc[] = [
  {
    status: 400,
    when:
      'The body is not JSON, not `application/json` or not an object, or has an unknown field; `subject`, `messageText`, ' +
      '`recipients` or `expiresInSeconds` is missing or out of its rule (the message names the field); more than 10,000 ' +
      'recipients are listed; a malformed `Idempotency-Key`.',
    errors: [
      ERRORS.BROADCAST_BODY_INVALID,
      ERRORS.BROADCAST_SUBJECT_INVALID,
      ERRORS.BROADCAST_TEXT_INVALID,
      ERRORS.BROADCAST_RECIPIENTS_INVALID,
      ERRORS.BROADCAST_EXPIRY_INVALID,
      ERRORS.BROADCAST_IDEMPOTENCY_KEY_INVALID,
      ERRORS.INVALID_JSON,
      ERRORS.UNSUPPORTED_CONTENT_TYPE,
      ERRORS.BAD_REQUEST,
    ],
  },
  ADMIN_401,
  {
    status: 404,
    when: 'Listed recipients are not in the directory: `unknownXuids` lists every one of them. Nothing was sent.',
    errors: [ERRORS.BROADCAST_RECIPIENTS_UNKNOWN],
    schema: 'UnknownRecipientsResponse',
    exampleDetails: { unknownXuids: ['2533274790412999'] },
  },
  { status: 413, when: 'The body is larger than 1 MiB.', errors: [ERRORS.PAYLOAD_TOO_LARGE] },
  {
    status: 422,
    when: 'The `Idempotency-Key` already created a broadcast with a different body.',
    errors: [ERRORS.BROADCAST_IDEMPOTENCY_KEY_REUSED],
  },
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];

export const SYSTEM_MESSAGE_ERRORS: ErrorResponseDoc[] = [
  ADMIN_401,
  {
    status: 404,
    when: 'No broadcast has this id (never created, or expired and purged).',
    errors: [ERRORS.BROADCAST_NOT_FOUND],
  },
  ADMIN_429,
  INTERNAL_500,
  DEPENDENCY_503,
];
