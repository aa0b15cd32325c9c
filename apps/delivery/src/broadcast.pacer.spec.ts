import { Counter, Registry } from 'prom-client';
import { BroadcastPacer, PACING_WINDOW_MS, PAUSE_MAX_MS, PAUSE_STEP_MS } from './broadcast.pacer';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';

describe('BroadcastPacer', () => {
  let metrics: DeliveryMetrics;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    // Only the pause counter is used; the rest of DeliveryMetrics needs queues and a database.
    const broadcastPausedSeconds = new Counter({ name: 'paused', help: 'paused', registers: [new Registry()] });
    metrics = { broadcastPausedSeconds } as unknown as DeliveryMetrics;
  });

  afterEach(() => jest.useRealTimers());

  const pacer = (limit: number) =>
    new BroadcastPacer(Object.assign(new DeliveryConfig(), { BROADCAST_YIELD_LATENCY_MS: limit }), metrics);

  /** One chunk's turn, a window after the previous one: the pause it waited. */
  async function nextWindow(paced: BroadcastPacer): Promise<number> {
    jest.advanceTimersByTime(PACING_WINDOW_MS);
    let done = false;
    const turn = paced.turn().then(() => (done = true));
    const pause = paced.currentPauseMs;
    await jest.advanceTimersByTimeAsync(Math.max(pause - 1, 0));
    if (pause > 0) expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await turn;
    expect(done).toBe(true);
    return pause;
  }

  it('should not hold chunks back while players messages are quick, or there are none', async () => {
    const paced = pacer(50);
    expect(await nextWindow(paced)).toBe(0);
    paced.record(49);
    paced.record(50);
    expect(await nextWindow(paced)).toBe(0);
    expect(await metrics.broadcastPausedSeconds.get()).toMatchObject({ values: [{ value: 0 }] });
  });

  it('should double the pause each window players messages are slow, up to the most, then halve it away', async () => {
    const paced = pacer(50);
    const pauses: number[] = [];
    for (let window = 0; window < 10; window++) {
      paced.record(51);
      pauses.push(await nextWindow(paced));
    }
    expect(pauses).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, PAUSE_MAX_MS, PAUSE_MAX_MS]);
    const easing: number[] = [];
    for (let window = 0; window < 9; window++) easing.push(await nextWindow(paced));
    expect(easing).toEqual([1000, 500, 250, 125, 63, 32, 16, 0, 0]);
    expect(PAUSE_STEP_MS).toBe(10);
    const paused = (await metrics.broadcastPausedSeconds.get()).values[0].value;
    expect(paused).toBeCloseTo([...pauses, ...easing].reduce((sum, ms) => sum + ms, 0) / 1000, 6);
  });

  it('should judge a window by its slowest message only once the window is over', async () => {
    const paced = pacer(50);
    paced.record(500);
    // Same window: nothing reconsidered yet.
    await paced.turn();
    expect(paced.currentPauseMs).toBe(0);
    expect(await nextWindow(paced)).toBe(PAUSE_STEP_MS);
    // The slow message was the last window's; this one heard only quick ones.
    paced.record(5);
    expect(await nextWindow(paced)).toBe(0);
  });

  it('should never pause when BROADCAST_YIELD_LATENCY_MS is 0', async () => {
    const paced = pacer(0);
    paced.record(10_000);
    expect(await nextWindow(paced)).toBe(0);
    paced.record(10_000);
    expect(await nextWindow(paced)).toBe(0);
  });
});
