import { JsonNumber } from '@app/shared/xuid';
import { canonicalJson } from './idempotency.service';

describe('canonicalJson', () => {
  it('should hash equal bodies alike whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } })).toBe(canonicalJson({ a: { c: 'x', d: [1, 2] }, b: 1 }));
  });

  it('should keep numbers exactly as written, so 64-bit XUIDs differ when they differ', () => {
    const big = canonicalJson({ xuid: new JsonNumber('18446744073709551615') });
    const next = canonicalJson({ xuid: new JsonNumber('18446744073709551614') });
    expect(big).toBe('{"xuid":18446744073709551615}');
    expect(big).not.toBe(next);
  });

  it('should tell a string XUID from a numeric one, and arrays from objects', () => {
    expect(canonicalJson({ xuid: '5' })).not.toBe(canonicalJson({ xuid: new JsonNumber('5') }));
    expect(canonicalJson([1])).not.toBe(canonicalJson({ 0: 1 }));
  });
});
