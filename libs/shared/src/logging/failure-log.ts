/** Where a {@link FailureLog} writes: a Nest Logger, or anything with the same two methods. */
export interface FailureLogSink {
  error(message: string): void;
  log(message: string): void;
}

/** How often a failure that keeps recurring gets a line of its own, at most. */
export const FAILURE_LOG_INTERVAL_MS = 10_000;

interface Recurring {
  lastLineAt: number;
  /** Failures of this kind since its last line. */
  unlogged: number;
}

/**
 * Logs a dependency's failures without flooding: under an outage every call
 * fails, so a kind of failure gets a line the first time, then at most one
 * line per interval with the count since. A new kind of failure, and the
 * recovery, are state changes: logged at once.
 */
export class FailureLog {
  private readonly recurring = new Map<string, Recurring>();
  private failingSince = 0;
  private failures = 0;

  /** @param now the clock, in ms (tests pass their own) */
  constructor(
    private readonly sink: FailureLogSink,
    private readonly intervalMs = FAILURE_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One failure. `key` names its kind (same key, same kind: throttled
   * together); it defaults to the line itself. Keys must come from a small
   * set: one entry is kept per key until the next success.
   */
  failed(line: string, key = line): void {
    const now = this.now();
    if (this.failures === 0) this.failingSince = now;
    this.failures++;
    const seen = this.recurring.get(key);
    if (seen === undefined) {
      this.recurring.set(key, { lastLineAt: now, unlogged: 0 });
      this.sink.error(line);
      return;
    }
    seen.unlogged++;
    if (now - seen.lastLineAt >= this.intervalMs) {
      this.sink.error(`${line} (${plural(seen.unlogged, 'time')} in the last ${seconds(now - seen.lastLineAt)} s)`);
      seen.lastLineAt = now;
      seen.unlogged = 0;
    }
  }

  /**
   * One success: after failures, logs `recovered` ("quota answers again") once,
   * with their count. Costs a comparison otherwise (it is on the hot path).
   */
  succeeded(recovered: string): void {
    if (this.failures === 0) return;
    this.sink.log(`${recovered} after ${plural(this.failures, 'failed call')} in ${seconds(this.now() - this.failingSince)} s`);
    this.failures = 0;
    this.recurring.clear();
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);
const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
