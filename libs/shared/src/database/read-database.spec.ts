import { LagEstimator, lsnValue } from './read-database';

describe('lsnValue', () => {
  it('should order LSNs as Postgres does, across the 32-bit boundary', () => {
    expect(lsnValue('0/16B3748')).toBe(0x16b3748n);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
  });
});

describe('LagEstimator', () => {
  it('should know nothing before the first sample of the primary', () => {
    expect(new LagEstimator().lagAt(1000, 5n)).toBeNull();
  });

  it('should see no lag on an idle primary the replica has caught up with, however long ago it last wrote', () => {
    const lag = new LagEstimator();
    for (let at = 0; at <= 60_000; at += 250) lag.primaryAt(at, 100n);

    expect(lag.lagAt(60_010, 100n)).toBe(10);
  });

  it('should count from the newest primary position the replica has replayed', () => {
    const lag = new LagEstimator();
    lag.primaryAt(1000, 100n);
    lag.primaryAt(1250, 200n);
    lag.primaryAt(1500, 300n);

    expect(lag.lagAt(1600, 250n)).toBe(350);
    expect(lag.lagAt(1700, 300n)).toBe(200);
  });

  it('should give at least the age of the oldest sample when the replica has replayed none of them', () => {
    const lag = new LagEstimator();
    lag.primaryAt(1000, 100n);
    lag.primaryAt(1250, 200n);

    expect(lag.lagAt(3000, 50n)).toBe(2000);
  });

  it('should keep at most 1000 samples while the replica stays behind', () => {
    const lag = new LagEstimator();
    for (let i = 0; i < 1500; i++) lag.primaryAt(i, BigInt(1000 + i));

    // The oldest 500 were dropped: the estimate is a lower bound from the oldest kept.
    expect(lag.lagAt(2000, 0n)).toBe(1500);
  });
});
