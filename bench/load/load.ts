/**
 * Load generation: autocannon runs whose every request is built on the fly
 * (rotating sender, token and recipients), and the visible-latency probe.
 * Latencies are taken from autocannon's per-response timings (sub-millisecond),
 * not from its whole-millisecond histogram.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Latencies, Measurement, measurement } from './report';

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface CannonOptions {
  label: string;
  url: string;
  connections: number;
  seconds: number;
  /** Requests per second over all connections; unpaced when absent. */
  overallRate?: number;
  next: () => RequestSpec;
}

/** Drives `url` for `seconds`; rate counts 2xx answers only, latencies are of 2xx answers. */
export function cannon(options: CannonOptions): Promise<Measurement> {
  const latencies = new Latencies();
  const statuses: Record<string, number> = {};
  return new Promise((done, fail) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        overallRate: options.overallRate,
        timeout: 10,
        requests: [{ setupRequest: (request) => ({ ...request, ...options.next() }) }],
      },
      (error: Error | null, result: autocannon.Result) => {
        if (error) {
          fail(error);
          return;
        }
        const ok = Object.entries(statuses).reduce((sum, [code, n]) => (code.startsWith('2') ? sum + n : sum), 0);
        const failed = Object.entries(statuses).filter(([code]) => !code.startsWith('2'));
        const extra: Record<string, number> = {};
        for (const [code, n] of failed) extra[`http${code}`] = n;
        if (result.errors > 0) extra.connErrors = result.errors;
        if (result.timeouts > 0) extra.timeouts = result.timeouts;
        const errors = failed.reduce((sum, [, n]) => sum + n, 0) + result.errors;
        done(measurement(options.label, ok, result.duration, latencies, errors, Object.keys(extra).length ? extra : undefined));
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.record(responseTime);
    });
  });
}

/** One keep-alive HTTP connection of its own (the probe's POSTs, or its polls). */
export class Connection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly base: string) {}

  send(spec: RequestSpec): Promise<{ status: number; body: string }> {
    const url = new URL(spec.path, this.base);
    return new Promise((done, fail) => {
      const request = httpRequest(
        url,
        {
          method: spec.method,
          agent: this.agent,
          headers: spec.body === undefined ? spec.headers : { ...spec.headers, 'content-length': Buffer.byteLength(spec.body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => done({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', fail);
        },
      );
      request.on('error', fail);
      request.end(spec.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface InboxPage {
  results: { header: { id: string }; messageSummary: string }[];
  pagingInfo: { continuationToken: string | null; totalItems: number };
}

export async function getPage(connection: Connection, spec: RequestSpec): Promise<InboxPage> {
  const { status, body } = await connection.send(spec);
  if (status !== 200) throw new Error(`GET ${spec.path}: ${status} ${body.slice(0, 200)}`);
  return JSON.parse(body) as InboxPage;
}

export interface VisibleOptions {
  label: string;
  url: string;
  /** Probe n: a send whose text (and so summary) is `tag(n)`, with the watcher among its recipients. */
  probe: (n: number) => RequestSpec;
  tag: (n: number) => string;
  /** GET of the watcher's newest entries. */
  poll: RequestSpec;
  pollMs: number;
  /** Stop probing when this settles (the paced background load ends). */
  until: Promise<unknown>;
  timeoutMs?: number;
}

/**
 * From the 200 of a probe send to the first GET of the watcher's inbox that
 * lists it, one probe at a time, each on its own connection, polls every
 * `pollMs`; 5-15 ms pause between probes.
 */
export async function visibleLatency(options: VisibleOptions): Promise<Measurement> {
  const posts = new Connection(options.url);
  const polls = new Connection(options.url);
  const latencies = new Latencies();
  const timeoutMs = options.timeoutMs ?? 10_000;
  let finished = false;
  void options.until.finally(() => (finished = true));
  let timeouts = 0;
  let failedSends = 0;
  let pollCount = 0;
  const started = performance.now();
  try {
    for (let n = 0; !finished; n++) {
      const sent = await posts.send(options.probe(n));
      if (sent.status !== 200) {
        failedSends++;
        continue;
      }
      const accepted = performance.now();
      const tag = options.tag(n);
      for (;;) {
        const pollStarted = performance.now();
        pollCount++;
        const page = await getPage(polls, options.poll);
        if (page.results.some((item) => item.messageSummary === tag)) {
          latencies.record(performance.now() - accepted);
          break;
        }
        if (performance.now() - accepted > timeoutMs) {
          timeouts++;
          break;
        }
        const wait = options.pollMs - (performance.now() - pollStarted);
        if (wait > 0) await sleep(wait);
      }
      await sleep(5 + Math.random() * 10);
    }
  } finally {
    posts.close();
    polls.close();
  }
  const [p90, max] = latencies.percentiles(90, 100);
  return measurement(options.label, latencies.count, (performance.now() - started) / 1000, latencies, timeouts + failedSends, {
    p90Ms: p90,
    maxMs: max,
    timeouts,
    failedSends,
    polls: pollCount,
  });
}
