import { Test } from '@nestjs/testing';
import { createHash } from 'node:crypto';
import { ERRORS } from '@app/shared/errors';
import { JsonNumber, Xuid } from '@app/shared/xuid';
import { IdempotencyClaim, IdempotencyRecord, IdempotencyRepository } from './idempotency.repository';
import { ABANDONED_AFTER_SECONDS, canonicalJson, IdempotencyService, waitBefore } from './idempotency.service';

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

describe('waitBefore', () => {
  it('should double from 25 ms up to 1 s, jittered over the upper half of each step', () => {
    const ceilings = [25, 50, 100, 200, 400, 800, 1000, 1000];
    ceilings.forEach((ceiling, attempt) => {
      for (let i = 0; i < 50; i++) {
        const wait = waitBefore(attempt);
        expect(wait).toBeGreaterThanOrEqual(Math.ceil(ceiling / 2));
        expect(wait).toBeLessThanOrEqual(ceiling + 1);
      }
    });
  });
});

describe('IdempotencyService', () => {
  const SENDER = '42' as Xuid;
  const KEY = 'retry-key';
  const body = { messageText: 'hi' };
  const hashOf = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');
  const record = (overrides: Partial<IdempotencyRecord> = {}): IdempotencyRecord => ({
    requestHash: hashOf(body),
    completed: false,
    ageSeconds: 1,
    expired: false,
    fence: '2026-12-03 12:00:00.123456+00',
    ...overrides,
  });
  const claimOf = (fence: string): IdempotencyClaim => ({ senderXuid: SENDER, key: KEY, fence });

  let records: jest.Mocked<Pick<IdempotencyRepository, 'claim' | 'find' | 'takeOver' | 'release' | 'deleteExpired'>>;
  let service: IdempotencyService;

  beforeEach(async () => {
    records = {
      claim: jest.fn(),
      find: jest.fn(),
      takeOver: jest.fn(),
      release: jest.fn().mockResolvedValue(undefined),
      deleteExpired: jest.fn().mockResolvedValue(undefined),
    };
    const moduleRef = await Test.createTestingModule({
      providers: [IdempotencyService, { provide: IdempotencyRepository, useValue: records }],
    }).compile();
    service = moduleRef.get(IdempotencyService);
  });

  it('should send without a claim when there is no header', async () => {
    const send = jest.fn().mockResolvedValue(undefined);
    await service.run(SENDER, undefined, body, send);
    expect(send).toHaveBeenCalledWith(null);
    expect(records.claim).not.toHaveBeenCalled();
  });

  it('should delete an expired record and claim the key afresh', async () => {
    records.claim.mockResolvedValueOnce(null).mockResolvedValueOnce(claimOf('fresh'));
    records.find.mockResolvedValueOnce(record({ completed: true, expired: true }));
    const send = jest.fn().mockResolvedValue(undefined);

    await service.run(SENDER, KEY, body, send);

    expect(records.deleteExpired).toHaveBeenCalledWith(SENDER, KEY);
    expect(send).toHaveBeenCalledWith(claimOf('fresh'));
  });

  it('should take over a claim unanswered for longer than the abandonment age, and send under the new fence', async () => {
    const stale = record({ ageSeconds: ABANDONED_AFTER_SECONDS + 1 });
    records.claim.mockResolvedValueOnce(null);
    records.find.mockResolvedValueOnce(stale);
    records.takeOver.mockResolvedValueOnce(claimOf('taken'));
    const send = jest.fn().mockResolvedValue(undefined);

    await service.run(SENDER, KEY, body, send);

    expect(records.takeOver).toHaveBeenCalledWith(SENDER, KEY, stale, ABANDONED_AFTER_SECONDS);
    expect(send).toHaveBeenCalledWith(claimOf('taken'));
  });

  it('should wait, not send, when another retry won the takeover, and return once the key completes', async () => {
    records.claim.mockResolvedValue(null);
    records.find
      .mockResolvedValueOnce(record({ ageSeconds: ABANDONED_AFTER_SECONDS + 1 }))
      .mockResolvedValueOnce(record())
      .mockResolvedValueOnce(record({ completed: true }));
    records.takeOver.mockResolvedValueOnce(null);
    const send = jest.fn();

    await service.run(SENDER, KEY, body, send);

    expect(send).not.toHaveBeenCalled();
    expect(records.find).toHaveBeenCalledTimes(3);
  });

  it('should refuse the same key with another body with 422', async () => {
    records.claim.mockResolvedValueOnce(null);
    records.find.mockResolvedValueOnce(record({ requestHash: hashOf({ other: true }) }));

    await expect(service.run(SENDER, KEY, body, jest.fn())).rejects.toMatchObject({
      definition: ERRORS.IDEMPOTENCY_KEY_REUSED,
    });
  });

  it('should release its own claim when the send fails, and rethrow', async () => {
    records.claim.mockResolvedValueOnce(claimOf('mine'));
    const failure = new Error('boom');

    await expect(service.run(SENDER, KEY, body, () => Promise.reject(failure))).rejects.toBe(failure);

    expect(records.release).toHaveBeenCalledWith(claimOf('mine'));
  });
});
