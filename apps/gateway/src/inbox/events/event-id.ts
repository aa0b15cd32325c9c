import { createHmac, timingSafeEqual } from 'node:crypto';
import { TokenKey } from '../continuation-token';

const VERSION = 1;
const MAC_BYTES = 16;
const KID = /^[A-Za-z0-9]{1,8}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Not the continuation tokens' context: an event id never opens as a page token, nor the reverse.
const MAC_CONTEXT = Buffer.from('xblmsg inbox event\0');
const MAX_LENGTH = 64;

/**
 * Seals and opens the ids of inbox events (`id:` of each event, and the
 * `Last-Event-ID` a client reconnects with): base64url of
 * `version | kid length | kid | sequence (u64) | MAC`, the MAC being
 * HMAC-SHA256 truncated to 16 bytes over everything before it plus the
 * owner's XUID, so an id opens only for the inbox it was issued for. The
 * sequence is the inbox's delivery sequence of the last message the stream
 * sent. Signed with the continuation token keys (PAGING_TOKEN_KEYS).
 */
export class EventIdCodec {
  private readonly signing: TokenKey;
  private readonly secrets: Map<string, Buffer>;

  /** @param keys the first signs; all of them verify. */
  constructor(keys: readonly TokenKey[]) {
    if (keys.length === 0) throw new Error('EventIdCodec needs at least one key');
    this.signing = keys[0];
    this.secrets = new Map(keys.map((key) => [key.kid, Buffer.from(key.secret, 'utf8')]));
  }

  encode(owner: string, sequence: number): string {
    const kid = Buffer.from(this.signing.kid, 'ascii');
    const body = Buffer.alloc(8);
    body.writeBigUInt64BE(BigInt(sequence));
    const sealed = Buffer.concat([Buffer.from([VERSION, kid.length]), kid, body]);
    return Buffer.concat([sealed, this.mac(this.secrets.get(this.signing.kid)!, sealed, owner)]).toString('base64url');
  }

  /** The sequence, or null for garbage, an altered id, another inbox's id, or one signed with a retired key. */
  decode(owner: string, id: string): number | null {
    if (id.length === 0 || id.length > MAX_LENGTH || !BASE64URL.test(id)) return null;
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.toString('base64url') !== id || bytes.length < 2 + 1 + 8 + MAC_BYTES) return null;
    const kidLength = bytes[1];
    if (bytes[0] !== VERSION || kidLength < 1 || kidLength > 8 || bytes.length !== 2 + kidLength + 8 + MAC_BYTES) return null;
    const kid = bytes.toString('latin1', 2, 2 + kidLength);
    const secret = KID.test(kid) ? this.secrets.get(kid) : undefined;
    if (secret === undefined) return null;
    const sealed = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(secret, sealed, owner), bytes.subarray(bytes.length - MAC_BYTES))) return null;
    const sequence = sealed.readBigUInt64BE(2 + kidLength);
    return sequence > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(sequence);
  }

  private mac(secret: Buffer, sealed: Buffer, owner: string): Buffer {
    const ownerBytes = Buffer.alloc(8);
    ownerBytes.writeBigUInt64BE(BigInt(owner));
    return createHmac('sha256', secret).update(MAC_CONTEXT).update(sealed).update(ownerBytes).digest().subarray(0, MAC_BYTES);
  }
}
