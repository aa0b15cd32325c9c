import { GAMERTAG_RULE, isPossibleGamertag } from '@app/shared/directory/gamertag';
import { AppError, ERRORS } from '@app/shared/errors';
import { JsonNumber, parseXuidValue, Xuid, XUID_RULE } from '@app/shared/xuid';

export const MAX_RECIPIENTS = 20;
export const MAX_TEXT_CODE_POINTS = 250;

/** A send as the client named it: recipients by XUID or by gamertag, not yet looked up. */
export interface SendRequest {
  xuids: Xuid[];
  gamertags: string[];
  messageText: string;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a JSON value is, for a message that says what was sent instead. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof JsonNumber) return 'a number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Validates a POST outbox body (docs/api.md, Send a message), in the order of the
 * status table: every shape error (400) first, then unconvertible recipient
 * XUIDs (403), then impossible gamertags (404). Unknown properties are ignored.
 */
export function parseSendRequest(body: unknown): SendRequest {
  if (!isObject(body)) {
    const { message } = ERRORS.OUTBOX_BODY_INVALID;
    throw new AppError(
      ERRORS.OUTBOX_BODY_INVALID,
      body === undefined ? message : message.replace(/\.$/, `; it is ${kindOf(body)}.`),
    );
  }
  const { header, messageText } = body;
  if (!isObject(header)) {
    throw new AppError(
      ERRORS.OUTBOX_BODY_INVALID,
      'The body must have a "header" object holding the recipients, like "header":{"recipients":[{"gamertag":"GoTeamEmily"}]}.',
    );
  }
  const { recipients } = header;
  if (!Array.isArray(recipients) || recipients.length === 0 || recipients.length > MAX_RECIPIENTS) {
    const got = Array.isArray(recipients) ? `${recipients.length} were given` : 'it is missing or not a list';
    throw new AppError(
      ERRORS.RECIPIENTS_INVALID,
      `header.recipients must be a list of 1 to ${MAX_RECIPIENTS} recipients; ${got}.`,
    );
  }
  recipients.forEach((entry, index) => {
    if (!isObject(entry)) {
      throw new AppError(
        ERRORS.RECIPIENTS_INVALID,
        `header.recipients[${index}] must be an object with one of "xuid" and "gamertag", like {"gamertag":"GoTeamEmily"}; ` +
          `it is ${kindOf(entry)}.`,
      );
    }
    if ('xuid' in entry === 'gamertag' in entry) {
      throw new AppError(
        ERRORS.RECIPIENT_AMBIGUOUS,
        `header.recipients[${index}] must have exactly one of "xuid" and "gamertag"; it has ${'xuid' in entry ? 'both' : 'neither'}.`,
      );
    }
  });
  validateText(messageText);

  const xuids: Xuid[] = [];
  const gamertags: string[] = [];
  (recipients as JsonObject[]).forEach((entry, index) => {
    if (!('xuid' in entry)) return;
    const xuid = parseXuidValue(entry.xuid);
    if (xuid === null) {
      throw new AppError(
        ERRORS.RECIPIENT_XUID_INVALID,
        `header.recipients[${index}].xuid cannot be converted to an XUID: use ${XUID_RULE}, as a JSON string or number.`,
      );
    }
    xuids.push(xuid);
  });
  (recipients as JsonObject[]).forEach((entry, index) => {
    if (!('gamertag' in entry)) return;
    if (!isPossibleGamertag(entry.gamertag)) {
      throw new AppError(
        ERRORS.GAMERTAG_INVALID,
        `header.recipients[${index}].gamertag is not a valid gamertag: it must be ${GAMERTAG_RULE}.`,
      );
    }
    gamertags.push(entry.gamertag);
  });
  return { xuids, gamertags, messageText };
}

function validateText(text: unknown): asserts text is string {
  if (text === undefined) {
    throw new AppError(
      ERRORS.MESSAGE_TEXT_INVALID,
      `messageText is missing: send the text as a string of 1 to ${MAX_TEXT_CODE_POINTS} characters.`,
    );
  }
  if (typeof text !== 'string') {
    throw new AppError(
      ERRORS.MESSAGE_TEXT_INVALID,
      `messageText must be a string of 1 to ${MAX_TEXT_CODE_POINTS} characters; it is ${kindOf(text)}.`,
    );
  }
  if (!text.isWellFormed()) {
    throw new AppError(
      ERRORS.MESSAGE_TEXT_INVALID,
      'messageText is not valid Unicode: it has an unpaired surrogate (half of a UTF-16 pair); send whole characters.',
    );
  }
  // Postgres text cannot hold U+0000: refuse it here rather than fail the store with a 500.
  if (text.includes('\u0000')) {
    throw new AppError(ERRORS.MESSAGE_TEXT_INVALID, 'messageText must not contain the NUL character (U+0000); remove it.');
  }
  // Code points, not UTF-16 units: an emoji is one character.
  let length = 0;
  for (const _ of text) length++;
  if (length === 0 || length > MAX_TEXT_CODE_POINTS) {
    throw new AppError(
      ERRORS.MESSAGE_TEXT_INVALID,
      `messageText must be 1 to ${MAX_TEXT_CODE_POINTS} characters, counted in Unicode code points (an emoji is one); ` +
        `it has ${length}.`,
    );
  }
}
