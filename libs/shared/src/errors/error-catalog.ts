/**
 * Every errorCode the service answers with. Codes are stable per condition:
 * clients may switch on them. docs/errors.md lists the same table (a test keeps
 * the two in step). Ranges: 1xxx HTTP and framework, 2xxx authentication and
 * authorization, 3xxx path identifiers, 4xxx sending, 5xxx quota limits,
 * 6xxx inbox reading, 7xxx admin API.
 */
export interface ErrorDefinition {
  readonly code: number;
  readonly status: number;
  readonly source: string;
  readonly message: string;
}

const define = (code: number, status: number, source: string, message: string): ErrorDefinition =>
  ({ code, status, source, message }) as const;

export const ERRORS = {
  INTERNAL: define(1000, 500, 'gateway', 'An unexpected server error occurred.'),
  ROUTE_NOT_FOUND: define(
    1001,
    404,
    'gateway',
    'No such resource: check the method and the path (user routes are /users/xuid(<XUID>)/outbox and /users/xuid(<XUID>)/inbox).',
  ),
  INVALID_JSON: define(1002, 400, 'gateway', 'The request body is not valid JSON.'),
  UNSUPPORTED_CONTENT_TYPE: define(
    1003,
    400,
    'gateway',
    'Content-Type must be application/json (parameters such as charset=utf-8 are allowed).',
  ),
  PAYLOAD_TOO_LARGE: define(1004, 413, 'gateway', 'The request body is larger than 64 KiB (65536 bytes); send a smaller body.'),
  UNSUPPORTED_CONTRACT_VERSION: define(1005, 400, 'gateway', 'x-xbl-contract-version must be 1, or be left out.'),
  DEPENDENCY_UNAVAILABLE: define(1006, 503, 'gateway', 'A dependency is unavailable; retry later.'),
  BAD_REQUEST: define(1007, 400, 'gateway', 'The request is malformed; check its request line, headers and body framing.'),
  NOT_READY: define(1008, 503, 'gateway', 'The service is not ready.'),
  HEADERS_TOO_LARGE: define(
    1009,
    431,
    'gateway',
    'The request line and headers are larger than 16 KiB; send a shorter URL or fewer headers.',
  ),
  EXPECTATION_FAILED: define(1010, 417, 'gateway', 'The only Expect this service meets is "100-continue".'),
  REQUESTS_THROTTLED: define(
    1011,
    429,
    'gateway',
    'Too many requests from this user; wait the seconds in Retry-After before the next one.',
  ),

  TOKEN_MISSING: define(
    2001,
    401,
    'auth',
    'An Authorization header is required: "XBL3.0 x=<userhash>;<token>" or "Bearer <token>".',
  ),
  AUTHORIZATION_MALFORMED: define(
    2002,
    401,
    'auth',
    'The Authorization header must be "XBL3.0 x=<userhash>;<token>" or "Bearer <token>".',
  ),
  TOKEN_INVALID: define(
    2003,
    401,
    'auth',
    'The token is not a JWT signed with a key and algorithm this service accepts; get a new token.',
  ),
  TOKEN_EXPIRED: define(2004, 401, 'auth', 'The token has expired; get a new token.'),
  TOKEN_CLAIMS_INVALID: define(2005, 401, 'auth', 'The token claims are not acceptable; get a new token.'),
  AUTHENTICATION_THROTTLED: define(
    2006,
    429,
    'auth',
    'Too many failed authentications from this address; wait the seconds in Retry-After.',
  ),
  FORBIDDEN_USER: define(
    2101,
    403,
    'auth',
    'The token belongs to another user than the XUID in the path; use the XUID of the token\'s "xid" claim.',
  ),
  NOT_GOLD: define(
    2102,
    403,
    'auth',
    'Sending messages requires a gold subscription: the token\'s "tier" claim must be "gold".',
  ),
  ADMIN_UNAUTHORIZED: define(
    2201,
    401,
    'admin',
    'A valid admin token is required: send "Authorization: Bearer <admin token>".',
  ),

  SENDER_XUID_INVALID: define(
    3001,
    403,
    'outbox',
    'The XUID in the path cannot be converted: use xuid(<XUID>), the XUID written as decimal digits for a value from 1 to 18446744073709551615.',
  ),
  INBOX_XUID_INVALID: define(
    3002,
    404,
    'inbox',
    'A valid XUID is missing in the path: use xuid(<XUID>), the XUID written as decimal digits for a value from 1 to 18446744073709551615.',
  ),

  OUTBOX_BODY_INVALID: define(
    4001,
    400,
    'outbox',
    'The body must be a JSON object with a "header" object and "messageText", like {"header":{"recipients":[{"gamertag":"GoTeamEmily"}]},"messageText":"hi"}.',
  ),
  RECIPIENTS_INVALID: define(4002, 400, 'outbox', 'header.recipients must be a list of 1 to 20 recipients.'),
  RECIPIENT_AMBIGUOUS: define(4003, 400, 'outbox', 'Each recipient must have exactly one of "xuid" and "gamertag".'),
  MESSAGE_TEXT_INVALID: define(
    4004,
    400,
    'outbox',
    'messageText must be a string of 1 to 250 characters (Unicode code points).',
  ),
  RECIPIENT_XUID_INVALID: define(
    4005,
    403,
    'outbox',
    'A recipient XUID cannot be converted: use decimal digits for a value from 1 to 18446744073709551615, as a JSON string or number.',
  ),
  GAMERTAG_INVALID: define(
    4006,
    404,
    'outbox',
    'A recipient gamertag is not valid: a gamertag is 1 to 15 letters and digits, with single spaces only between them.',
  ),
  RECIPIENT_NOT_FOUND: define(4007, 404, 'outbox', 'A recipient does not exist.'),
  SENDER_UNKNOWN: define(4008, 403, 'outbox', 'The sender is not in the directory.'),
  IDEMPOTENCY_KEY_INVALID: define(
    4009,
    400,
    'outbox',
    'Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces), such as a UUID.',
  ),
  IDEMPOTENCY_KEY_REUSED: define(
    4010,
    422,
    'outbox',
    'This Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new request.',
  ),

  LIMIT_STRANGERS_PER_MESSAGE: define(5001, 409, 'quota', 'Too many strangers in one message.'),
  LIMIT_MESSAGES_PER_WINDOW: define(5002, 409, 'quota', 'Daily message limit reached.'),
  LIMIT_RECIPIENTS_PER_WINDOW: define(5003, 409, 'quota', 'Daily recipient limit reached.'),
  LIMIT_STRANGERS_PER_WINDOW: define(5004, 409, 'quota', 'Daily stranger limit reached.'),

  INBOX_PARAMETER_INVALID: define(
    6001,
    400,
    'inbox',
    'A query parameter is not valid: maxItems is 1 to 100, skipItems 0 to 100, each given at most once.',
  ),
  CONTINUATION_TOKEN_INVALID: define(
    6002,
    400,
    'inbox',
    "continuationToken is not a token issued for this inbox: it is malformed, altered or belongs to another inbox. Pass the previous page's token unchanged, or leave it out to start again.",
  ),
  CONTINUATION_TOKEN_EXPIRED: define(
    6003,
    409,
    'inbox',
    'continuationToken can no longer be honoured (issued under a retired signing key or token format); start the enumeration again.',
  ),
  SKIP_PAST_END: define(
    6004,
    416,
    'inbox',
    'skipItems is larger than the number of messages in the inbox; use a smaller skipItems.',
  ),
  MESSAGE_ID_INVALID: define(
    6005,
    404,
    'inbox',
    'The message id must be 1..50 characters of A-Z, a-z, 0-9, "_" or "-", as in header.id of the inbox listing.',
  ),
  MESSAGE_NOT_FOUND: define(
    6006,
    404,
    'inbox',
    'No such message in this inbox (it may have been deleted or have expired); list the inbox for the current ids.',
  ),
  READ_STATE_BODY_INVALID: define(
    6010,
    400,
    'inbox',
    'The body must be a JSON object {"isRead":true} (mark read) or {"isRead":false} (mark unread).',
  ),
  BATCH_BODY_INVALID: define(
    6011,
    400,
    'inbox',
    'The body must be a JSON object like {"action":"markRead","messageIds":["<id>"]}, with action "delete", "markRead" or "markUnread".',
  ),
  BATCH_MESSAGE_IDS_INVALID: define(
    6012,
    400,
    'inbox',
    'messageIds must be a list of 1 to 100 message ids, each 1..50 characters of A-Z, a-z, 0-9, "_" or "-" (header.id of the listing).',
  ),
  EVENT_ID_INVALID: define(
    6020,
    400,
    'inbox',
    "Last-Event-ID is not an event id of this inbox's stream: it is malformed, altered, belongs to another inbox or was signed with a retired key. Send the id of the last event received unchanged, or reconnect without it and list the inbox.",
  ),

  ADMIN_VALIDATION: define(
    7001,
    400,
    'admin',
    'Invalid request: the body must be a JSON object like {"gamertag":"GoTeamEmily","communication":"everyone"}.',
  ),
  GAMERTAG_TAKEN: define(7002, 409, 'admin', 'The gamertag belongs to another user; choose another.'),
  USER_NOT_FOUND: define(7003, 404, 'admin', 'No user has this XUID; create it with PUT /admin/users/{xuid} first.'),
  ADMIN_XUID_INVALID: define(
    7004,
    400,
    'admin',
    'The XUID in the path cannot be converted: use decimal digits for a value from 1 to 18446744073709551615, plain or as xuid(<digits>).',
  ),

  BROADCAST_BODY_INVALID: define(
    7010,
    400,
    'admin',
    'The body must be a JSON object like {"subject":"Patch notes","messageText":"…","recipients":"all"}, with "expiresInSeconds" optional.',
  ),
  BROADCAST_SUBJECT_INVALID: define(
    7011,
    400,
    'admin',
    'subject must be a string of 1 to 20 characters (Unicode code points) of well-formed Unicode.',
  ),
  BROADCAST_TEXT_INVALID: define(
    7012,
    400,
    'admin',
    'messageText must be a string of 1 to 250 characters (Unicode code points) of well-formed Unicode.',
  ),
  BROADCAST_RECIPIENTS_INVALID: define(
    7013,
    400,
    'admin',
    'recipients must be "all" or a list of 1 to 10000 XUIDs (decimal digits for a value from 1 to 18446744073709551615, as JSON strings or numbers).',
  ),
  BROADCAST_EXPIRY_INVALID: define(
    7014,
    400,
    'admin',
    'expiresInSeconds must be a whole number of seconds from 1 to the message lifetime (MESSAGE_TTL_SECONDS), or be left out.',
  ),
  BROADCAST_RECIPIENTS_UNKNOWN: define(
    7015,
    404,
    'admin',
    'Some recipients are not in the directory (listed in "unknownXuids"); nothing was sent. Create them or leave them out.',
  ),
  BROADCAST_NOT_FOUND: define(
    7016,
    404,
    'admin',
    'No broadcast has this id (it may have expired and been purged); use the id POST /admin/system-messages answered.',
  ),
  BROADCAST_IDEMPOTENCY_KEY_INVALID: define(
    7017,
    400,
    'admin',
    'Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces), such as a UUID, given once.',
  ),
  BROADCAST_IDEMPOTENCY_KEY_REUSED: define(
    7018,
    422,
    'admin',
    'This Idempotency-Key created a broadcast with a different request; use a new key for a new broadcast.',
  ),
} satisfies Record<string, ErrorDefinition>;

export type ErrorName = keyof typeof ERRORS;

/** The 413's message for a route that accepts at most `limitBytes` (64 KiB on most, 1 MiB for system messages). */
export function payloadTooLargeMessage(limitBytes: number): string {
  const size = limitBytes % (1024 * 1024) === 0 ? `${limitBytes / (1024 * 1024)} MiB` : `${limitBytes / 1024} KiB`;
  return `The request body is larger than ${size} (${limitBytes} bytes); send a smaller body.`;
}
