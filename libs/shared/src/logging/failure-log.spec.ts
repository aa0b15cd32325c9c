import { FailureLog, FailureLogSink } from './failure-log';

/** A FailureLog on a clock the test moves, writing into an array. */
function failureLog(intervalMs = 10_000): { log: FailureLog; lines: string[]; advance: (ms: number) => void } {
  const lines: string[] = [];
  let now = 1_000_000;
  const sink: FailureLogSink = {
    error: (message) => lines.push(`error ${message}`),
    log: (message) => lines.push(`log ${message}`),
  };
  return {
    log: new FailureLog(sink, intervalMs, () => now),
    lines,
    advance: (ms) => (now += ms),
  };
}

describe('FailureLog', () => {
  it('should log the first failure at once', () => {
    const { log, lines } = failureLog();

    log.failed('quota unreachable at 127.0.0.1:3009: ECONNREFUSED');

    expect(lines).toEqual(['error quota unreachable at 127.0.0.1:3009: ECONNREFUSED']);
  });

  it('should log nothing more when the same failure recurs within the interval', () => {
    const { log, lines, advance } = failureLog();

    log.failed('down');
    for (let i = 0; i < 500; i++) {
      advance(19);
      log.failed('down');
    }

    expect(lines).toEqual(['error down']);
  });

  it('should log one line per interval with the count since the last line when the failure keeps recurring', () => {
    const { log, lines, advance } = failureLog();

    log.failed('down');
    for (let i = 0; i < 25; i++) {
      advance(1000);
      log.failed('down');
    }

    // At 10 s the 10 failures since the first line, at 20 s the next 10; the last 5 wait for the next line.
    expect(lines).toEqual(['error down', 'error down (10 times in the last 10 s)', 'error down (10 times in the last 10 s)']);
  });

  it('should log a different failure at once, as a change of state', () => {
    const { log, lines, advance } = failureLog();

    log.failed('quota unreachable at h:1: ECONNREFUSED', 'unreachable');
    advance(100);
    log.failed('quota at h:1 did not answer within 1000 ms', 'timeout');
    advance(100);
    log.failed('quota unreachable at h:1: ECONNREFUSED', 'unreachable');

    expect(lines).toEqual(['error quota unreachable at h:1: ECONNREFUSED', 'error quota at h:1 did not answer within 1000 ms']);
  });

  it('should throttle alternating failures per kind, so flapping between two does not flood', () => {
    const { log, lines, advance } = failureLog();

    for (let i = 0; i < 100; i++) {
      advance(50);
      log.failed(i % 2 === 0 ? 'a' : 'b');
    }

    expect(lines).toEqual(['error a', 'error b']);
  });

  it('should name the kind by its key, and show the latest line when it logs again', () => {
    const { log, lines, advance } = failureLog();

    log.failed('refused: unknown kid k9', 'refused');
    advance(5000);
    log.failed('refused: unknown kid k7', 'refused');
    advance(5000);
    log.failed('refused: unknown kid k8', 'refused');

    expect(lines).toEqual(['error refused: unknown kid k9', 'error refused: unknown kid k8 (2 times in the last 10 s)']);
  });

  it('should log the recovery once, with the failures and how long they lasted', () => {
    const { log, lines, advance } = failureLog();

    log.failed('down');
    advance(2000);
    log.failed('down');
    advance(1500);
    log.succeeded('quota answers again');
    log.succeeded('quota answers again');

    expect(lines).toEqual(['error down', 'log quota answers again after 2 failed calls in 3.5 s']);
  });

  it('should log nothing on success when nothing failed', () => {
    const { log, lines } = failureLog();

    log.succeeded('quota answers again');

    expect(lines).toEqual([]);
  });

  it('should treat a failure after a recovery as new, and log it at once', () => {
    const { log, lines, advance } = failureLog();

    log.failed('down');
    advance(100);
    log.succeeded('quota answers again');
    advance(100);
    log.failed('down');

    expect(lines).toEqual(['error down', 'log quota answers again after 1 failed call in 0.1 s', 'error down']);
  });
});
