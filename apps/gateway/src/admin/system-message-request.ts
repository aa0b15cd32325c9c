import { AppError, ERRORS, ErrorDefinition } from '@app/shared/errors';
import { JsonNumber, parseXuidValue, Xuid, XUID_RULE } from '@app/shared/xuid';

export const MAX_SUBJECT_CODE_POINTS = 20;
/**
 * The outbox's 250, not the seed's 256: the same bound as a player's message,
 * so a client that shows one shows the other (256 is what the seed's detail
 * view can display, and 250 fits it).
 */
export const MAX_SYSTEM_TEXT_CODE_POINTS = 250;
export const MAX_LISTED_RECIPIENTS = 10_000;

/** A broadcast as requested, validated; recipients deduplicated, not yet looked up. */
export interface SystemMessageRequest {
  subject: string;
  messageText: string;
  /** Distinct XUIDs in ascending numeric order, or every user in the directory. */
  recipients: Xuid[] | 'all';
  expiresInSeconds?: number;
}

const FIELDS = new Set(['subject', 'messageText', 'recipients', 'expiresInSeconds']);

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof JsonNumber) return 'a number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Validates a POST /admin/system-messages body (docs/api.md, System
 * messages): each error names its field. `maxExpiresInSeconds` is the
 * deployment's MESSAGE_TTL_SECONDS.
 */
export function parseSystemMessageRequest(body: unknown, maxExpiresInSeconds: number): SystemMessageRequest {
  if (!isObject(body)) {
    throw new AppError(
      ERRORS.BROADCAST_BODY_INVALID,
      ERRORS.BROADCAST_BODY_INVALID.message.replace(/\.$/, `; it is ${kindOf(body)}.`),
    );
  }
  const unknown = Object.keys(body).filter((key) => !FIELDS.has(key));
  if (unknown.length > 0) {
    throw new AppError(
      ERRORS.BROADCAST_BODY_INVALID,
      `The body has fields this route does not know: ${unknown.map((key) => JSON.stringify(key.slice(0, 40))).join(', ')}; ` +
        'send only "subject", "messageText", "recipients" and "expiresInSeconds".',
    );
  }
  const subject = text(body.subject, 'subject', MAX_SUBJECT_CODE_POINTS, ERRORS.BROADCAST_SUBJECT_INVALID);
  const messageText = text(body.messageText, 'messageText', MAX_SYSTEM_TEXT_CODE_POINTS, ERRORS.BROADCAST_TEXT_INVALID);
  const recipients = recipientsOf(body.recipients);
  const expiresInSeconds = expiryOf(body.expiresInSeconds, maxExpiresInSeconds);
  return { subject, messageText, recipients, ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }) };
}

function text(value: unknown, field: string, max: number, error: ErrorDefinition): string {
  const rule = `a string of 1 to ${max} characters (Unicode code points)`;
  if (value === undefined) throw new AppError(error, `${field} is missing: send it as ${rule}.`);
  if (typeof value !== 'string') throw new AppError(error, `${field} must be ${rule}; it is ${kindOf(value)}.`);
  if (!value.isWellFormed()) {
    throw new AppError(
      error,
      `${field} is not valid Unicode: it has an unpaired surrogate (half of a UTF-16 pair); send whole characters.`,
    );
  }
  if (value.includes('\u0000')) throw new AppError(error, `${field} must not contain the NUL character (U+0000); remove it.`);
  let length = 0;
  for (const _ of value) length++;
  if (length === 0 || length > max) {
    throw new AppError(error, `${field} must be 1 to ${max} characters, counted in Unicode code points; it has ${length}.`);
  }
  return value;
}

function recipientsOf(value: unknown): Xuid[] | 'all' {
  const error = ERRORS.BROADCAST_RECIPIENTS_INVALID;
  if (value === 'all') return 'all';
  if (!Array.isArray(value)) {
    throw new AppError(
      error,
      `recipients must be "all" or a list of 1 to ${MAX_LISTED_RECIPIENTS} XUIDs; it is ${value === undefined ? 'missing' : kindOf(value)}.`,
    );
  }
  if (value.length === 0 || value.length > MAX_LISTED_RECIPIENTS) {
    throw new AppError(
      error,
      `recipients must list 1 to ${MAX_LISTED_RECIPIENTS} XUIDs (send "all" for everyone, or several broadcasts); ${value.length} were given.`,
    );
  }
  const xuids = new Set<Xuid>();
  value.forEach((item, index) => {
    const xuid = parseXuidValue(item);
    if (xuid === null) {
      throw new AppError(
        error,
        `recipients[${index}] cannot be converted to an XUID: use ${XUID_RULE}, as a JSON string or number.`,
      );
    }
    xuids.add(xuid);
  });
  return [...xuids].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
}

function expiryOf(value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  const seconds = value instanceof JsonNumber && /^\d{1,10}$/.test(value.text) ? Number(value.text) : NaN;
  if (!(seconds >= 1 && seconds <= max)) {
    throw new AppError(
      ERRORS.BROADCAST_EXPIRY_INVALID,
      `expiresInSeconds must be a whole number from 1 to ${max} (the message lifetime), or be left out; it is ${
        value instanceof JsonNumber ? value.text.slice(0, 40) : kindOf(value)
      }.`,
    );
  }
  return seconds;
}
