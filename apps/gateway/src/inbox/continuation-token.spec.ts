import { ContinuationTokenCodec, InboxCursor, MAX_TOKEN_LENGTH, TOKEN_FORMAT_VERSION } from './continuation-token';

const OWNER = '18446744073709551615';
const OTHER_OWNER = '18446744073709551614';
const CURRENT = { kid: 'k2', secret: 'a-current-secret-of-at-least-32-characters' };
const PREVIOUS = { kid: 'k1', secret: 'a-previous-secret-of-at-least-32-characters' };
const CURSOR: InboxCursor = { sentMicros: 1_746_000_000_123_456n, messageId: '01JV2Z8Q3M4N5P6R7S8T9V0W1X' };

describe('ContinuationTokenCodec', () => {
  const codec = new ContinuationTokenCodec([CURRENT, PREVIOUS]);

  it('should give back the cursor when the token is opened for the same inbox', () => {
    const token = codec.encode(OWNER, CURSOR);

    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(codec.decode(OWNER, token)).toEqual({ ok: true, cursor: CURSOR });
  });

  it('should keep every character and length of message id when ids are 1..50 characters', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let length = 1; length <= 50; length++) {
      const messageId = Array.from({ length }, (_, i) => alphabet[(i * 7 + length) % 64]).join('');
      const cursor = { sentMicros: BigInt(length) * 999_999_999n, messageId };
      expect(codec.decode(OWNER, codec.encode(OWNER, cursor))).toEqual({ ok: true, cursor });
    }
  });

  it('should stay within 100 characters when the message id has the maximum 50 characters', () => {
    const token = codec.encode(OWNER, { sentMicros: 2n ** 64n - 1n, messageId: '_'.repeat(50) });

    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
  });

  it('should refuse as invalid when the token was issued for another inbox', () => {
    expect(codec.decode(OTHER_OWNER, codec.encode(OWNER, CURSOR))).toEqual({ ok: false, reason: 'invalid' });
  });

  it('should refuse as invalid when any bit outside the kid is changed', () => {
    const bytes = Buffer.from(codec.encode(OWNER, CURSOR), 'base64url');
    const kidBytes = new Set([2, 3]);
    for (let index = 0; index < bytes.length; index++) {
      if (kidBytes.has(index)) continue;
      for (let bit = 0; bit < 8; bit++) {
        const altered = Buffer.from(bytes);
        altered[index] ^= 1 << bit;
        expect(codec.decode(OWNER, altered.toString('base64url'))).toEqual({ ok: false, reason: 'invalid' });
      }
    }
  });

  it('should never open a token when any bit is changed', () => {
    const bytes = Buffer.from(codec.encode(OWNER, CURSOR), 'base64url');
    for (let index = 0; index < bytes.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const altered = Buffer.from(bytes);
        altered[index] ^= 1 << bit;
        expect(codec.decode(OWNER, altered.toString('base64url')).ok).toBe(false);
      }
    }
  });

  it('should refuse as invalid when a character is appended, dropped or spelled non-canonically', () => {
    const token = codec.encode(OWNER, CURSOR);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The final character carries padding bits: flipping one of them spells the same bytes differently.
    const sibling = token.slice(0, -1) + alphabet[alphabet.indexOf(token[token.length - 1]) ^ 1];

    expect(Buffer.from(sibling, 'base64url')).toEqual(Buffer.from(token, 'base64url'));

    expect(codec.decode(OWNER, `${token}A`)).toEqual({ ok: false, reason: 'invalid' });
    expect(codec.decode(OWNER, token.slice(0, -1))).toEqual({ ok: false, reason: 'invalid' });
    expect(codec.decode(OWNER, sibling)).toEqual({ ok: false, reason: 'invalid' });
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'abc+/='],
    ['too short', 'AQJrMQ'],
    ['too long', 'A'.repeat(MAX_TOKEN_LENGTH + 1)],
    ['a word', 'garbage'],
    ['whitespace', ' '],
    ['the string null', 'null'],
  ])('should refuse as invalid when the token is %s', (_, token) => {
    expect(codec.decode(OWNER, token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('should accept a token signed with an older key when that key is still configured', () => {
    const rotatedBefore = new ContinuationTokenCodec([PREVIOUS]);
    const token = rotatedBefore.encode(OWNER, CURSOR);

    expect(codec.decode(OWNER, token)).toEqual({ ok: true, cursor: CURSOR });
  });

  it('should refuse as retired when the token kid is no longer configured', () => {
    const afterRetirement = new ContinuationTokenCodec([CURRENT]);
    const token = new ContinuationTokenCodec([PREVIOUS]).encode(OWNER, CURSOR);

    expect(afterRetirement.decode(OWNER, token)).toEqual({ ok: false, reason: 'retired' });
  });

  it('should refuse as invalid when a configured kid is presented with another secret', () => {
    const impostor = new ContinuationTokenCodec([{ kid: CURRENT.kid, secret: 'x'.repeat(40) }]);

    expect(codec.decode(OWNER, impostor.encode(OWNER, CURSOR))).toEqual({ ok: false, reason: 'invalid' });
  });

  it('should refuse as retired when a genuine token has an older format version', () => {
    const token = codec.encode(OWNER, CURSOR, TOKEN_FORMAT_VERSION - 1);

    expect(codec.decode(OWNER, token)).toEqual({ ok: false, reason: 'retired' });
  });

  it('should refuse as invalid when a genuine token claims a newer format version', () => {
    const token = codec.encode(OWNER, CURSOR, TOKEN_FORMAT_VERSION + 1);

    expect(codec.decode(OWNER, token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('should throw when asked to encode a message id outside the contract', () => {
    expect(() => codec.encode(OWNER, { ...CURSOR, messageId: 'a/b' })).toThrow();
    expect(() => codec.encode(OWNER, { ...CURSOR, messageId: 'a'.repeat(51) })).toThrow();
  });

  it('should throw when built without keys or with a bad kid', () => {
    expect(() => new ContinuationTokenCodec([])).toThrow();
    expect(() => new ContinuationTokenCodec([{ kid: 'bad kid', secret: CURRENT.secret }])).toThrow();
  });
});
