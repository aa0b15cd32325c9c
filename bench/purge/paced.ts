/**
 * Open-loop load at a fixed rate: request i starts at t0 + i/rate whatever
 * the answers before it did, over a keep-alive agent of `connections`
 * sockets (a request finding every socket busy waits in the agent, and that
 * wait counts in its latency). autocannon's own pacing (`overallRate`) is a
 * per-connection quota reset every second, so its "500/s" is a burst at full
 * speed at the top of each second and then silence: right for a throughput
 * cap, wrong for a sustained rate under which to look at latencies.
 *
 * Latency is from the request's start to the end of its answer, of 2xx
 * answers only, as bench/load counts them; each window of `windowMs` keeps
 * its own, for the timeline.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestSpec } from '../load/load';
import { Latencies, Measurement, measurement } from '../load/report';

const TIMEOUT_MS = 10_000;
/** Requests outstanding at most; beyond it a due request is dropped (and counted). */
const MAX_IN_FLIGHT = 2000;

export interface PacedOptions {
  label: string;
  url: string;
  rate: number;
  connections: number;
  next: () => RequestSpec;
  windowMs?: number;
}

export interface Window {
  /** Seconds from the start of the run to the start of the window. */
  at: number;
  ok: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PacedRun {
  /** Stops starting requests, waits for those in flight (up to the timeout), returns the measurement. */
  stop(): Promise<Measurement & { windows: Window[] }>;
}

export function startPaced(options: PacedOptions): PacedRun {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const base = new URL(options.url);
  const windowMs = options.windowMs ?? 5000;
  const latencies = new Latencies();
  const windows: Latencies[] = [];
  const statuses: Record<string, number> = {};
  let connErrors = 0;
  let dropped = 0;
  let issued = 0;
  let inFlight = 0;
  let stopped = false;
  const t0 = performance.now();

  const fire = (): void => {
    const spec = options.next();
    const started = performance.now();
    inFlight++;
    let settled = false;
    const settle = (status: number | null): void => {
      if (settled) return;
      settled = true;
      inFlight--;
      if (status === null) {
        connErrors++;
        return;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        const ms = performance.now() - started;
        latencies.record(ms);
        (windows[Math.floor((started - t0) / windowMs)] ??= new Latencies()).record(ms);
      }
    };
    const headers =
      spec.body === undefined ? spec.headers : { ...spec.headers, 'content-length': String(Buffer.byteLength(spec.body)) };
    const request = httpRequest(new URL(spec.path, base), { method: spec.method, agent, headers }, (response) => {
      response.resume();
      response.on('end', () => settle(response.statusCode ?? 0));
      response.on('error', () => settle(null));
    });
    request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error('timeout')));
    request.on('error', () => settle(null));
    request.end(spec.body);
  };

  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    if (stopped) return;
    const due = Math.floor(((performance.now() - t0) * options.rate) / 1000);
    while (issued < due) {
      issued++;
      if (inFlight >= MAX_IN_FLIGHT) dropped++;
      else fire();
    }
    timer = setTimeout(tick, 1);
  };
  tick();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const deadline = Date.now() + TIMEOUT_MS + 1000;
      while (inFlight > 0 && Date.now() < deadline) await sleep(10);
      agent.destroy();
      const failed = Object.entries(statuses).filter(([code]) => !code.startsWith('2'));
      const extra: Record<string, number> = { target: options.rate };
      for (const [code, n] of failed) extra[`http${code}`] = n;
      if (connErrors > 0) extra.connErrors = connErrors;
      if (dropped > 0) extra.dropped = dropped;
      const errors = failed.reduce((sum, [, n]) => sum + n, 0) + connErrors + dropped;
      const m = measurement(options.label, latencies.count, seconds, latencies, errors, extra);
      const timeline = Array.from({ length: windows.length }, (_, i) => {
        const w = windows[i] as Latencies | undefined;
        const [p50Ms, p99Ms] = w ? w.percentiles(50, 99) : [NaN, NaN];
        return { at: (i * windowMs) / 1000, ok: w?.count ?? 0, p50Ms, p99Ms };
      });
      return { ...m, windows: timeline };
    },
  };
}
