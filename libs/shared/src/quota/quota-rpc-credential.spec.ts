import { createHmac } from 'node:crypto';
import { parseKeyList } from '../config';
import { QUOTA_PATTERNS } from '../contracts';
import { QuotaRpcRefusal, QuotaRpcSigner, QuotaRpcVerifier } from './quota-rpc-credential';

const OLD = `k1:${'o'.repeat(32)}`;
const NEW = `k2:${'n'.repeat(32)}`;
const signer = (keys: string): QuotaRpcSigner => new QuotaRpcSigner(parseKeyList(keys));
const verifier = (keys: string): QuotaRpcVerifier => new QuotaRpcVerifier(parseKeyList(keys));

const reserve = {
  senderXuid: '2533274790412952',
  messageId: '01M82ABC',
  recipients: 3,
  strangers: 1,
  sentAt: 1_760_000_000_000,
};

/** What quota receives: the payload through JSON, as the TCP transport carries it. */
const overTheWire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('QuotaRpcSigner', () => {
  it('should add the first key’s kid and an HMAC-SHA256 of the pattern and the payload', () => {
    const signed = signer(`${NEW},${OLD}`).sign(QUOTA_PATTERNS.reserve, reserve);

    const expected = createHmac('sha256', 'n'.repeat(32))
      .update(`quota.reserve\n${JSON.stringify(reserve)}`)
      .digest('base64url');
    expect(signed).toEqual({ ...reserve, credential: { kid: 'k2', mac: expected } });
  });

  it('should leave the payload it signs unchanged', () => {
    const payload = { ...reserve };

    signer(OLD).sign(QUOTA_PATTERNS.reserve, payload);

    expect(payload).toEqual(reserve);
  });
});

describe('QuotaRpcVerifier', () => {
  it('should accept a signed call and take the credential off the payload', () => {
    const received = overTheWire(signer(OLD).sign(QUOTA_PATTERNS.reserve, reserve));

    expect(verifier(OLD).verify(QUOTA_PATTERNS.reserve, received)).toEqual({ accepted: true });
    expect(received).toEqual(reserve);
  });

  it('should accept calls signed with any listed key, so a key can be rotated', () => {
    const quota = verifier(`${NEW},${OLD}`);

    for (const keys of [OLD, NEW, `${NEW},${OLD}`, `${OLD},${NEW}`]) {
      const received = overTheWire(signer(keys).sign(QUOTA_PATTERNS.ping, {}));
      expect({ keys, verdict: quota.verify(QUOTA_PATTERNS.ping, received) }).toEqual({ keys, verdict: { accepted: true } });
    }
  });

  it('should verify payloads with undefined fields, nesting and non-ASCII text as they arrive', () => {
    const payload = { messages: [{ senderXuid: '1', messageId: 'é✓' }], requestId: undefined, ratio: 0.1 };
    const received = overTheWire(signer(OLD).sign(QUOTA_PATTERNS.confirm, payload));

    expect(verifier(OLD).verify(QUOTA_PATTERNS.confirm, received)).toEqual({ accepted: true });
  });

  it.each([
    ['no payload', undefined, QuotaRpcRefusal.Missing, 'no credential'],
    ['no credential', { ...reserve }, QuotaRpcRefusal.Missing, 'no credential'],
    ['a credential that is not an object', { ...reserve, credential: 'k1' }, QuotaRpcRefusal.Malformed, 'malformed credential'],
    [
      'a kid that is no kid',
      { ...reserve, credential: { kid: 'k1; drop', mac: 'A'.repeat(43) } },
      QuotaRpcRefusal.Malformed,
      'malformed credential',
    ],
    [
      'a mac of the wrong length',
      { ...reserve, credential: { kid: 'k1', mac: 'A'.repeat(42) } },
      QuotaRpcRefusal.Malformed,
      'malformed credential',
    ],
    [
      'an unknown kid',
      { ...reserve, credential: { kid: 'k9', mac: 'A'.repeat(43) } },
      QuotaRpcRefusal.UnknownKid,
      'unknown kid k9',
    ],
    [
      'a wrong mac',
      { ...reserve, credential: { kid: 'k1', mac: 'A'.repeat(43) } },
      QuotaRpcRefusal.BadSignature,
      'bad signature for kid k1',
    ],
  ])('should refuse %s', (_, received, refusal, reason) => {
    expect(verifier(OLD).verify(QUOTA_PATTERNS.reserve, received)).toEqual({
      accepted: false,
      refusal,
      reply: { refused: 'credentials', reason },
    });
  });

  it('should refuse a call signed with the right kid but another secret', () => {
    const received = overTheWire(signer(`k1:${'x'.repeat(32)}`).sign(QUOTA_PATTERNS.reserve, reserve));

    expect(verifier(OLD).verify(QUOTA_PATTERNS.reserve, received)).toMatchObject({ refusal: QuotaRpcRefusal.BadSignature });
  });

  it('should refuse a payload changed after signing', () => {
    const received = overTheWire(signer(OLD).sign(QUOTA_PATTERNS.reserve, reserve));
    received.recipients = 1;

    expect(verifier(OLD).verify(QUOTA_PATTERNS.reserve, received)).toMatchObject({ refusal: QuotaRpcRefusal.BadSignature });
  });

  it('should refuse a credential taken from one pattern to another', () => {
    const received = overTheWire(signer(OLD).sign(QUOTA_PATTERNS.reserve, reserve));

    expect(verifier(OLD).verify(QUOTA_PATTERNS.release, received)).toMatchObject({ refusal: QuotaRpcRefusal.BadSignature });
  });

  it('should leave a refused payload as it arrived', () => {
    const received = { ...reserve, credential: { kid: 'k9', mac: 'A'.repeat(43) } };

    verifier(OLD).verify(QUOTA_PATTERNS.reserve, received);

    expect(received.credential).toEqual({ kid: 'k9', mac: 'A'.repeat(43) });
  });
});
