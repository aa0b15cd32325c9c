import { messageIdFactory, pooledRandom, sentOfMessageId } from './message-id';

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('message ids', () => {
  it('should make ULIDs that carry their time and strictly increase within one millisecond', () => {
    const next = messageIdFactory();
    const ids = Array.from({ length: 10_000 }, () => next(1_796_000_000_000));
    expect(ids.filter((id) => !CROCKFORD.test(id))).toEqual([]);
    expect(new Set(ids.map(sentOfMessageId))).toEqual(new Set([1_796_000_000_000]));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('should draw every random character from the pool uniformly, refilling it as it runs out', () => {
    const random = pooledRandom();
    const counts = new Array<number>(32).fill(0);
    const draws = 32 * 4096;
    let [lowest, highest] = [1, 0];
    for (let index = 0; index < draws; index++) {
      const value = random();
      [lowest, highest] = [Math.min(lowest, value), Math.max(highest, value)];
      counts[Math.floor(value * 32)]++;
    }
    expect(lowest).toBeGreaterThanOrEqual(0);
    expect(highest).toBeLessThan(1);
    // 4096 expected per character; 5 standard deviations (about 310) either way.
    for (const count of counts) expect(Math.abs(count - 4096)).toBeLessThan(320);
  });

  it('should give two processes different ids for the same millisecond', () => {
    expect(messageIdFactory()(1_796_000_000_000)).not.toBe(messageIdFactory()(1_796_000_000_000));
  });
});
