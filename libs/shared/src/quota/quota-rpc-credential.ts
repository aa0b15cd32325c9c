import { createHmac, createSecretKey, Hmac, KeyObject, timingSafeEqual } from 'node:crypto';
import { KeyListEntry, keyListProblems, KID_FORMAT } from '../config';
import { QuotaCredentialsRefused, QuotaRpcCredential, Signed } from '../contracts';

/** Used when QUOTA_RPC_KEYS is unset outside production (gateway and quota alike); refused in production. */
export const DEVELOPMENT_QUOTA_RPC_KEYS = 'dev1:development-only-quota-rpc-secret-do-not-use';

/**
 * QUOTA_RPC_KEYS of the gateway or quota: required under NODE_ENV=production,
 * the development key otherwise (filled in), each kid once.
 */
export function quotaRpcKeysProblems(config: { QUOTA_RPC_KEYS?: string; readonly isProduction: boolean }): string[] {
  if (config.QUOTA_RPC_KEYS === undefined) {
    if (config.isProduction) return ['QUOTA_RPC_KEYS: required when NODE_ENV=production'];
    config.QUOTA_RPC_KEYS = DEVELOPMENT_QUOTA_RPC_KEYS;
  }
  return keyListProblems('QUOTA_RPC_KEYS', config.QUOTA_RPC_KEYS);
}

/** Why quota refused a call: the label of quota_rpc_refused_total. */
export enum QuotaRpcRefusal {
  Missing = 'missing',
  Malformed = 'malformed',
  UnknownKid = 'unknown-kid',
  BadSignature = 'bad-signature',
}

export type QuotaRpcVerdict =
  { accepted: true } | { accepted: false; refusal: QuotaRpcRefusal; reply: QuotaCredentialsRefused };

const MAC_BYTES = 32;
// base64url of 32 bytes, unpadded.
const MAC_FORMAT = /^[A-Za-z0-9_-]{43}$/;

function hmacOf(key: KeyObject, pattern: string, payloadJson: string): Hmac {
  return createHmac('sha256', key).update(`${pattern}\n${payloadJson}`);
}

const secretKey = (secret: string): KeyObject => createSecretKey(Buffer.from(secret, 'utf8'));

/** The gateway's side: signs every call with the first key. */
export class QuotaRpcSigner {
  private readonly kid: string;
  private readonly key: KeyObject;

  constructor(keys: KeyListEntry[]) {
    if (keys.length === 0) throw new Error('QuotaRpcSigner needs a key');
    this.kid = keys[0].kid;
    this.key = secretKey(keys[0].secret);
  }

  sign<T extends object>(pattern: string, payload: T): Signed<T> {
    const credential: QuotaRpcCredential = {
      kid: this.kid,
      mac: hmacOf(this.key, pattern, JSON.stringify(payload)).digest('base64url'),
    };
    return { ...payload, credential };
  }
}

/**
 * Quota's side: accepts a call signed with any of the keys, so a new key can
 * be added before gateways sign with it and an old one removed after.
 */
export class QuotaRpcVerifier {
  private readonly keys: Map<string, KeyObject>;

  constructor(keys: KeyListEntry[]) {
    this.keys = new Map(keys.map((key) => [key.kid, secretKey(key.secret)]));
  }

  /**
   * Checks the credential of a payload as received and, when it verifies,
   * takes it off, leaving the request the handler expects. The MAC is
   * recomputed over the JSON of what arrived: JSON.stringify(JSON.parse(x))
   * is x for any x that JSON.stringify made, and any difference refuses.
   */
  verify(pattern: string, data: unknown): QuotaRpcVerdict {
    if (typeof data !== 'object' || data === null || !('credential' in data)) {
      return refuse(QuotaRpcRefusal.Missing, 'no credential');
    }
    const { credential, ...payload } = data as Signed<object>;
    const { kid, mac } = (credential ?? {}) as Partial<QuotaRpcCredential>;
    if (typeof kid !== 'string' || !KID_FORMAT.test(kid) || typeof mac !== 'string' || !MAC_FORMAT.test(mac)) {
      return refuse(QuotaRpcRefusal.Malformed, 'malformed credential');
    }
    const key = this.keys.get(kid);
    if (key === undefined) return refuse(QuotaRpcRefusal.UnknownKid, `unknown kid ${kid}`);
    const given = Buffer.from(mac, 'base64url');
    const expected = hmacOf(key, pattern, JSON.stringify(payload)).digest();
    if (given.length !== MAC_BYTES || !timingSafeEqual(given, expected)) {
      return refuse(QuotaRpcRefusal.BadSignature, `bad signature for kid ${kid}`);
    }
    delete (data as Partial<Signed<object>>).credential;
    return { accepted: true };
  }
}

const refuse = (refusal: QuotaRpcRefusal, reason: string): QuotaRpcVerdict => ({
  accepted: false,
  refusal,
  reply: { refused: 'credentials', reason },
});
