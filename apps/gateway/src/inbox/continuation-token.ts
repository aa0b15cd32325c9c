import { createHmac, timingSafeEqual } from 'node:crypto';

/** The token layout this code writes; tokens of older layouts are refused with "start again". */
export const TOKEN_FORMAT_VERSION = 1;
/** A continuation token is at most 100 characters (docs/api.md, Paging). */
export const MAX_TOKEN_LENGTH = 100;

/** Where the next page starts: strictly after (older than) this entry. */
export interface InboxCursor {
  /**
   * The entry's send time in microseconds. Message ids sort by send time, so
   * the id alone orders the inbox; the time stays in the layout so that tokens
   * issued before the listing was keyed by id alone still open.
   */
  sentMicros: bigint;
  messageId: string;
}

export interface TokenKey {
  kid: string;
  secret: string;
}

export type DecodedToken =
  | { ok: true; cursor: InboxCursor }
  /** `invalid`: garbage, altered, or another inbox's token. `retired`: unknown kid or older format. */
  | { ok: false; reason: 'invalid' | 'retired' };

const MAC_BYTES = 16;
const KID = /^[A-Za-z0-9]{1,8}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const MAC_CONTEXT = Buffer.from('xblmsg inbox cursor\0');
// Message ids use exactly the base64url alphabet, so they pack at 6 bits a character:
// a 50-character id takes 38 bytes and the whole token stays within 100 characters.
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const MAX_ID_LENGTH = 50;

/**
 * Seals and opens inbox continuation tokens. A token is base64url of
 * `version | kid length | kid | body | MAC`, where body (format 1) is
 * `sent µs (u64) | id length | packed id`, and MAC is HMAC-SHA256 truncated to
 * 16 bytes over everything before it plus the owner's XUID, so a token opens
 * only for the inbox it was issued for. The version/kid/MAC envelope never
 * changes, which lets an older format be recognised (and refused as 409) only
 * after its MAC proves we issued it.
 */
export class ContinuationTokenCodec {
  private readonly signing: TokenKey;
  private readonly secrets: Map<string, Buffer>;

  /** @param keys the first signs; all of them verify. */
  constructor(keys: readonly TokenKey[]) {
    if (keys.length === 0) throw new Error('ContinuationTokenCodec needs at least one key');
    for (const key of keys) {
      if (!KID.test(key.kid)) throw new Error(`Invalid continuation token kid "${key.kid}"`);
    }
    this.signing = keys[0];
    this.secrets = new Map(keys.map((key) => [key.kid, Buffer.from(key.secret, 'utf8')]));
  }

  /** `formatVersion` other than the current one exists for tests of the refusal path. */
  encode(owner: string, cursor: InboxCursor, formatVersion = TOKEN_FORMAT_VERSION): string {
    const kid = Buffer.from(this.signing.kid, 'ascii');
    const id = packId(cursor.messageId);
    const sent = Buffer.alloc(8);
    sent.writeBigUInt64BE(cursor.sentMicros);
    const sealed = Buffer.concat([
      Buffer.from([formatVersion, kid.length]),
      kid,
      sent,
      Buffer.from([cursor.messageId.length]),
      id,
    ]);
    const mac = this.mac(this.secrets.get(this.signing.kid)!, sealed, owner);
    return Buffer.concat([sealed, mac]).toString('base64url');
  }

  decode(owner: string, token: string): DecodedToken {
    const invalid = { ok: false, reason: 'invalid' } as const;
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !BASE64URL.test(token)) return invalid;
    const bytes = Buffer.from(token, 'base64url');
    // Only the canonical spelling is accepted, so a changed character never opens as the same token.
    if (bytes.toString('base64url') !== token) return invalid;
    if (bytes.length < 2 + 1 + MAC_BYTES) return invalid;

    const version = bytes[0];
    const kidLength = bytes[1];
    if (kidLength < 1 || kidLength > 8 || bytes.length < 2 + kidLength + MAC_BYTES) return invalid;
    const kid = bytes.toString('latin1', 2, 2 + kidLength);
    if (!KID.test(kid)) return invalid;
    const secret = this.secrets.get(kid);
    if (secret === undefined) return { ok: false, reason: 'retired' };

    const sealed = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(secret, sealed, owner), bytes.subarray(bytes.length - MAC_BYTES))) return invalid;
    if (version < TOKEN_FORMAT_VERSION) return { ok: false, reason: 'retired' };
    if (version > TOKEN_FORMAT_VERSION) return invalid;

    const cursor = readBody(sealed.subarray(2 + kidLength));
    return cursor === null ? invalid : { ok: true, cursor };
  }

  private mac(secret: Buffer, sealed: Buffer, owner: string): Buffer {
    const ownerBytes = Buffer.alloc(8);
    ownerBytes.writeBigUInt64BE(BigInt(owner));
    return createHmac('sha256', secret).update(MAC_CONTEXT).update(sealed).update(ownerBytes).digest().subarray(0, MAC_BYTES);
  }
}

function readBody(body: Buffer): InboxCursor | null {
  if (body.length < 9) return null;
  const idLength = body[8];
  if (idLength < 1 || idLength > MAX_ID_LENGTH || body.length !== 9 + packedLength(idLength)) return null;
  return { sentMicros: body.readBigUInt64BE(0), messageId: unpackId(body.subarray(9), idLength) };
}

const packedLength = (characters: number): number => Math.ceil((characters * 6) / 8);

function packId(id: string): Buffer {
  if (id.length < 1 || id.length > MAX_ID_LENGTH) {
    throw new Error(`Message id of ${id.length} characters cannot be packed`);
  }
  const out = Buffer.alloc(packedLength(id.length));
  let accumulator = 0;
  let bits = 0;
  let offset = 0;
  for (const character of id) {
    const value = ID_ALPHABET.indexOf(character);
    if (value < 0) throw new Error('Message id has a character outside [A-Za-z0-9_-]');
    accumulator = (accumulator << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[offset++] = (accumulator >> bits) & 0xff;
      accumulator &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[offset] = (accumulator << (8 - bits)) & 0xff;
  return out;
}

function unpackId(packed: Buffer, length: number): string {
  let id = '';
  let accumulator = 0;
  let bits = 0;
  let offset = 0;
  while (id.length < length) {
    if (bits < 6) {
      accumulator = (accumulator << 8) | packed[offset++];
      bits += 8;
    }
    bits -= 6;
    id += ID_ALPHABET[(accumulator >> bits) & 0x3f];
    accumulator &= (1 << bits) - 1;
  }
  return id;
}
