/**
 * The purge benchmark: does the purge of expired messages keep up with the
 * sustained send rate, without holding up deliveries or reads? The real
 * gateway, quota and delivery (PURGE_INTERVAL_SECONDS=1) from the build,
 * against a scratch database and a private Redis prefix:
 *
 *   A  baseline: paced sends (delivery running), paced first-page reads and
 *      the 200-to-visible probe, no expired rows;
 *   B  the same load over a backlog of already-expired messages (5 entries
 *      each), from the moment the purge may start until the backlog is gone.
 *
 *   npm run bench:purge [-- --users 100000 --expired 1000000 --rate 500 --seconds 20 ...]
 *
 * docs/performance.md ("Purge under load") explains the run and how to read it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { MAINTENANCE_QUEUE } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis/bullmq.options';
import { signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { freePort } from '../../test/setup/free-port';
import { withDatabase } from '../../test/setup/postgres-admin';
import { awaitQuiet, CpuSample, cpuPerOperation, sampleCpu } from '../load/cpu';
import { dropDatabase, fill, migrate, recreateDatabase, sendBody, undeliveredCount } from '../load/fill';
import { rotatingGets, Sends } from '../load/requests';
import { visibleLatency } from '../load/load';
import { ROOT, spawnService, stopAll, waitReady } from '../load/processes';
import { formatMs, formatNumber, Measurement, measurementsTable, writeJson } from '../load/report';
import { deleteRedisPrefix, ensureBuild } from '../load/setup';
import { Backlog, Checks, insertExpired, RECIPIENTS_PER_MESSAGE, remainingExpired, runChecks } from './backlog';
import { explainPurge } from './explain';
import { PacedRun, startPaced, Window } from './paced';
import { LockSampler, LockSummary } from './locks';

const QUIET_PERCENT = 10;
const QUOTA_UNLIMITED = 2_000_000_000;
const SENDERS = 1000;
const RECIPIENTS = 1000;
const SEED_ENTRIES = 30;
const PROGRESS_EVERY_MS = 10_000;
/** Latency windows of the timeline. */
const WINDOW_MS = 10_000;

const USAGE = `npm run bench:purge -- [options]
  --users N          players in the directory (100000)
  --expired N        already-expired messages of the backlog, ${RECIPIENTS_PER_MESSAGE} inbox entries each (1000000)
  --rate N           sends per second, paced, in both phases (500)
  --get-rate N       first-page reads per second, paced, in both phases (250)
  --seconds S        length of phase A, the baseline (20)
  --warmup S         unmeasured load before phase A (3)
  --timeout S        longest phase B; the purge fails the run if the backlog is not gone by then (1800)
  --connections N    sockets of each paced load, at most (256)
  --poll-ms MS       poll interval of the visible-latency probe (5)
  --quiet-wait S     before each phase, wait up to S seconds for other people's load to drop under
                     ${QUIET_PERCENT} % of the machine (15; 0: never wait)
  --database NAME    scratch database, dropped and re-created (xblmsg_bench_purge)
  --json FILE        results (bench/purge/results/<timestamp>.json)
  --rebuild          run npm run build even if dist/ is up to date
  --explain          before phase B, print the plans of one purge batch (EXPLAIN ANALYZE, rolled back)
  --keep             keep the scratch database afterwards`;

interface Options {
  users: number;
  expired: number;
  rate: number;
  getRate: number;
  seconds: number;
  warmup: number;
  timeout: number;
  connections: number;
  pollMs: number;
  quietWait: number;
  database: string;
  json: string;
  rebuild: boolean;
  explain: boolean;
  keep: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '100000' },
      expired: { type: 'string', default: '1000000' },
      rate: { type: 'string', default: '500' },
      'get-rate': { type: 'string', default: '250' },
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '1800' },
      connections: { type: 'string', default: '256' },
      'poll-ms': { type: 'string', default: '5' },
      'quiet-wait': { type: 'string', default: '15' },
      database: { type: 'string', default: 'xblmsg_bench_purge' },
      json: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      explain: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}\n${USAGE}`);
    return value;
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    users: int('users', SENDERS + RECIPIENTS + 3),
    expired: int('expired', 1000),
    rate: int('rate', 1),
    getRate: int('get-rate', 0),
    seconds: int('seconds', 1),
    warmup: int('warmup', 0),
    timeout: int('timeout', 10),
    connections: int('connections', 1),
    pollMs: int('poll-ms', 1),
    quietWait: int('quiet-wait', 0),
    database: values.database,
    json: values.json ?? join(ROOT, 'bench/purge/results', `${stamp}.json`),
    rebuild: values.rebuild,
    explain: values.explain,
    keep: values.keep,
  };
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);
let interrupted = false;

/**
 * bench/load's JSON, then in Prettier's layout when Prettier is installed:
 * the root's `npm run format:check` reads every file .prettierignore does not
 * name, and does not read the nested .gitignore that keeps this folder out of git.
 */
async function writeResults(file: string, report: unknown): Promise<void> {
  writeJson(file, report);
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    writeFileSync(file, await prettier.format(readFileSync(file, 'utf8'), { ...config, filepath: file }));
  } catch (error) {
    log(`! results left as written (Prettier: ${error instanceof Error ? error.message : String(error)})`);
  }
}

interface Cores {
  phase: string;
  seconds: number;
  /** CPU cores busy per process (CPU ms per wall ms). */
  cores: Record<string, number>;
  othersPercent: number;
}

function coresBetween(phase: string, before: CpuSample, after: CpuSample): Cores {
  const elapsed = Math.max(after.at - before.at, 1);
  const use = cpuPerOperation(before, after, elapsed);
  return { phase, seconds: elapsed / 1000, cores: use.msPerOp, othersPercent: use.othersPercent };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

const withoutWindows = (m: Measurement & { windows: Window[] }): Measurement => {
  const { windows: _windows, ...rest } = m;
  return rest;
};

const ratio = (b: number, a: number): string => (Number.isFinite(b / a) ? (b / a).toFixed(2) : '-');

interface Phase {
  post: Measurement & { windows: Window[] };
  get: Measurement & { windows: Window[] };
  visible: Measurement;
  cpu: Cores;
  locks: LockSummary;
  /** Most messages accepted and not yet delivered, sampled every second. */
  maxUndelivered: number;
  /** WAL the server wrote meanwhile (all databases), and its checkpoints. */
  walBytes: number;
  checkpoints: number;
}

interface ServerCounters {
  lsn: string;
  checkpoints: number;
}

async function serverCounters(db: Client): Promise<ServerCounters> {
  const { rows } = await db.query<{ lsn: string; checkpoints: string }>(
    `SELECT pg_current_wal_lsn()::text AS lsn, checkpoints_timed + checkpoints_req AS checkpoints FROM pg_stat_bgwriter`,
  );
  return { lsn: rows[0].lsn, checkpoints: Number(rows[0].checkpoints) };
}

async function walBetween(db: Client, before: ServerCounters, after: ServerCounters): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>(`SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS bytes`, [
    after.lsn,
    before.lsn,
  ]);
  return Number(rows[0].bytes);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/xblmsg';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const adminUrl = withDatabase(baseUrl, 'postgres');
  const databaseUrl = withDatabase(baseUrl, options.database);
  const prefix = `xblbench-purge-${process.pid}`;
  const tag = randomBytes(3).toString('hex');
  const started = Date.now();

  let monitor: Client | null = null;
  let maintenance: Queue | null = null;
  let cleaned: Promise<void> | null = null;
  // Children first (they hold the keys and connections), then Redis, then the database.
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await stopAll().catch((error: Error) => log(`! stopping children: ${error.message}`));
      await maintenance?.close().catch(() => undefined);
      const keys = await deleteRedisPrefix(redisUrl, prefix).catch((error: Error) => (log(`! Redis: ${error.message}`), -1));
      await monitor?.end().catch(() => undefined);
      if (!options.keep)
        await dropDatabase(adminUrl, options.database).catch((error: Error) => log(`! drop: ${error.message}`));
      log(
        `· cleaned up: children stopped, ${keys} Redis keys under ${prefix}: deleted, database ${options.database} ${options.keep ? 'kept' : 'dropped'}`,
      );
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      log(`! ${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  process.on('unhandledRejection', (error) => {
    if (!interrupted) throw error;
  });

  try {
    const build = await ensureBuild(options.rebuild, log);
    log(`purge benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`);
    log(
      `  users ${options.users}, expired ${options.expired} x ${RECIPIENTS_PER_MESSAGE} entries, sends ${options.rate}/s, ` +
        `first pages ${options.getRate}/s, phase A ${options.seconds} s, ${options.connections} sockets a load; ${build}`,
    );

    // --- directory, roles, the recipients' first pages (bench/load's fill)
    log(`· database ${options.database}: create, migrate, fill`);
    const fillStarted = Date.now();
    await recreateDatabase(adminUrl, options.database);
    await migrate(databaseUrl);
    const roles = await fill(
      databaseUrl,
      { users: options.users, senders: SENDERS, recipients: RECIPIENTS, inbox: 0, seedEntries: SEED_ENTRIES },
      log,
    );
    const directoryMs = Date.now() - fillStarted;
    monitor = new Client({ connectionString: databaseUrl });
    monitor.on('error', (error: Error) => interrupted || log(`! monitor connection: ${error.message}`));
    await monitor.connect();
    const db = monitor;
    const serverVersion = (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    const autovacuum = (await db.query<{ v: string }>(`SELECT current_setting('autovacuum') AS v`)).rows[0].v;

    const secret = randomBytes(32).toString('hex');
    const authorization = new Map<string, string>();
    for (const user of [...roles.senders, ...roles.recipients, roles.prober, roles.watcher]) {
      const token = await signUserToken({
        xuid: user.xuid as Xuid,
        gamertag: user.gamertag,
        tier: SubscriptionTier.Gold,
        secret,
        expiresInSeconds: 6 * 3600,
      });
      authorization.set(user.xuid, `Bearer ${token}`);
    }

    // --- services: delivery with PURGE_INTERVAL_SECONDS=1, its defaults otherwise
    const [gatewayPort, quotaPort, quotaHttpPort, deliveryPort] = await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    );
    const common = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
    };
    // One key for both ends of the quota RPC (quota refuses calls signed otherwise).
    const quotaRpcKeys = `b1:${randomBytes(24).toString('hex')}`;
    const quota = spawnService(
      'quota',
      {
        ...common,
        QUOTA_LISTEN_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        QUOTA_HTTP_PORT: quotaHttpPort,
        LIMIT_MESSAGES_PER_DAY: QUOTA_UNLIMITED,
        LIMIT_RECIPIENTS_PER_DAY: QUOTA_UNLIMITED,
        LIMIT_STRANGERS_PER_DAY: QUOTA_UNLIMITED,
        QUOTA_RPC_KEYS: quotaRpcKeys,
      },
      `http://127.0.0.1:${quotaHttpPort}`,
    );
    const gateway = spawnService(
      'gateway',
      {
        ...common,
        HOST: '127.0.0.1',
        PORT: gatewayPort,
        // Admin and metrics are not used here: any free port.
        INTERNAL_PORT: 0,
        // Its senders send several times a second.
        THROTTLE_BURST_REQUESTS: 0,
        THROTTLE_SUSTAIN_REQUESTS: 0,
        QUOTA_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        AUTH_JWT_SECRET: secret,
        ADMIN_TOKEN: randomBytes(16).toString('hex'),
        PAGING_TOKEN_KEYS: `b1:${randomBytes(24).toString('hex')}`,
        QUOTA_RPC_KEYS: quotaRpcKeys,
      },
      `http://127.0.0.1:${gatewayPort}`,
    );
    const delivery = spawnService(
      'delivery',
      {
        ...common,
        DELIVERY_HTTP_HOST: '127.0.0.1',
        DELIVERY_HTTP_PORT: deliveryPort,
        PURGE_INTERVAL_SECONDS: 1,
      },
      `http://127.0.0.1:${deliveryPort}`,
    );
    await waitReady(quota);
    await waitReady(gateway);
    await waitReady(delivery);
    log(
      `· services ready: gateway ${gateway.pid}, quota ${quota.pid}, delivery ${delivery.pid} (NODE_ENV=production, Postgres ${serverVersion}, autovacuum ${autovacuum})`,
    );
    maintenance = new Queue(MAINTENANCE_QUEUE, { connection: redisOptionsFromUrl(redisUrl), prefix });
    const queue = maintenance;

    const nextSend = new Sends(roles, authorization, `purge ${tag}`).next;
    const nextPage = rotatingGets(roles.recipients, authorization, () => 'maxItems=25');
    const cpuOf = (): CpuSample =>
      sampleCpu({ gateway: gateway.pid, quota: quota.pid, delivery: delivery.pid }, options.database);
    let quietWaitMs = 0;
    const quiet = async (): Promise<void> => {
      if (options.quietWait > 0) quietWaitMs += await awaitQuiet(cpuOf, QUIET_PERCENT, options.quietWait * 1000);
    };
    const waitForDrain = async (timeoutMs: number): Promise<number> => {
      const from = Date.now();
      while ((await undeliveredCount(db)) > 0) {
        if (Date.now() - from > timeoutMs) return NaN;
        await sleep(100);
      }
      return Date.now() - from;
    };
    const startLoads = (label: string): { post: PacedRun; get: PacedRun | null } => ({
      post: startPaced({
        label: `${label} POST outbox`,
        url: gateway.url,
        rate: options.rate,
        connections: options.connections,
        next: nextSend,
        windowMs: WINDOW_MS,
      }),
      get:
        options.getRate > 0
          ? startPaced({
              label: `${label} GET first page`,
              url: gateway.url,
              rate: options.getRate,
              connections: options.connections,
              next: nextPage,
              windowMs: WINDOW_MS,
            })
          : null,
    });
    const probeTag = (n: number) => `probe ${tag} ${n}`;
    const watcherPlus = roles.recipients.slice(0, 4);
    const probe = (label: string, until: Promise<unknown>): Promise<Measurement> =>
      visibleLatency({
        label,
        url: gateway.url,
        probe: (n) => ({
          method: 'POST',
          path: `/users/xuid(${roles.prober.xuid})/outbox`,
          headers: { authorization: authorization.get(roles.prober.xuid) as string, 'content-type': 'application/json' },
          body: sendBody([roles.watcher, ...watcherPlus], probeTag(n)),
        }),
        tag: probeTag,
        poll: {
          method: 'GET',
          path: `/users/xuid(${roles.watcher.xuid})/inbox?maxItems=5`,
          headers: { authorization: authorization.get(roles.watcher.xuid) as string },
        },
        pollMs: options.pollMs,
        until,
      });
    const emptyGet = (label: string): Measurement & { windows: Window[] } => ({
      label,
      count: 0,
      seconds: 0,
      rate: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      errors: 0,
      windows: [],
    });

    /**
     * One phase: the paced loads and the probe until `until` settles; every
     * second the undelivered backlog (and `each`, B's progress), every 200 ms
     * the backends waiting on a lock.
     */
    const phase = async (label: string, until: Promise<unknown>, each?: () => Promise<void>): Promise<Phase> => {
      const locks = new LockSampler(databaseUrl);
      await locks.start();
      const server0 = await serverCounters(db);
      const cpu0 = cpuOf();
      const loads = startLoads(label);
      const visible = probe(`${label} 200-to-visible`, until);
      let maxUndelivered = 0;
      let done = false;
      void until.finally(() => (done = true));
      while (!done) {
        maxUndelivered = Math.max(maxUndelivered, await undeliveredCount(db));
        if (each) await each();
        await Promise.race([sleep(1000), until]);
      }
      const [post, get] = await Promise.all([
        loads.post.stop(),
        loads.get ? loads.get.stop() : emptyGet(`${label} GET first page`),
      ]);
      const cpu = coresBetween(label, cpu0, cpuOf());
      const server1 = await serverCounters(db);
      return {
        post,
        get,
        visible: await visible,
        cpu,
        locks: await locks.stop(),
        maxUndelivered,
        walBytes: await walBetween(db, server0, server1),
        checkpoints: server1.checkpoints - server0.checkpoints,
      };
    };
    const runStartedAt = new Date();

    // --- warm-up (JIT, pools, prepared statements), then A
    if (options.warmup > 0) {
      log(`· warm-up ${options.warmup} s`);
      const loads = startLoads('warm-up');
      await sleep(options.warmup * 1000);
      await Promise.all([loads.post.stop(), loads.get?.stop()]);
      await waitForDrain(60_000);
    }
    await quiet();
    log(`· phase A: ${options.rate} sends/s, ${options.getRate} first pages/s, probe; ${options.seconds} s, no expired rows`);
    const a = await phase('A', sleep(options.seconds * 1000));
    const drainA = await waitForDrain(60_000);
    log(
      `  A: POST ${Math.round(a.post.rate)}/s p50 ${formatMs(a.post.p50Ms)} p99 ${formatMs(a.post.p99Ms)} ms; GET p50 ${formatMs(a.get.p50Ms)} p99 ${formatMs(a.get.p99Ms)} ms; visible p50 ${formatMs(a.visible.p50Ms)} p99 ${formatMs(a.visible.p99Ms)} ms`,
    );

    // --- the backlog, written while the maintenance queue is paused
    await queue.pause();
    for (let i = 0; (await queue.getActiveCount()) > 0 && i < 300; i++) await sleep(100);
    log(
      `· backlog: ${options.expired.toLocaleString('en-US')} expired messages, ${(options.expired * RECIPIENTS_PER_MESSAGE).toLocaleString('en-US')} entries (maintenance queue paused)`,
    );
    const backlogStarted = Date.now();
    const backlog: Backlog = await insertExpired(db, { count: options.expired, users: options.users }, log);
    const backlogMs = Date.now() - backlogStarted;
    const t = backlog.timings;
    log(
      `  written in ${(backlogMs / 1000).toFixed(1)} s: messages and entries ${(t['messages and entries'] / 1000).toFixed(1)} s ` +
        `(${formatNumber((backlog.messages / t['messages and entries']) * 1000)} messages/s), counters ${(t.counters / 1000).toFixed(1)} s, ` +
        `vacuum and checkpoint ${(t['vacuum, checkpoint'] / 1000).toFixed(1)} s`,
    );
    if (options.explain) {
      log('· plans of one purge batch (generic, as prepared by the service; rolled back):');
      for (const line of await explainPurge(db, roles.recipients[0].xuid)) log(`  ${line}`);
    }

    // --- B: the same load; the purge may run from the moment the queue resumes
    await quiet();
    log(`· phase B: the same load while the purge runs (until no expired message is left, at most ${options.timeout} s)`);
    let resolveDone!: () => void;
    const purgeDone = new Promise<void>((done) => (resolveDone = done));
    const samples: [number, number][] = [];
    let resumedAt = 0;
    let endedAt = 0;
    let lastProgress = 0;
    let timedOut = false;
    const progress = async (): Promise<void> => {
      if (resumedAt === 0) {
        await queue.resume();
        resumedAt = Date.now();
        samples.push([0, backlog.messages]);
        lastProgress = resumedAt;
        return;
      }
      let left = await remainingExpired(db, backlog);
      // Near the end, look more often, so the end is timed to a fraction of a second.
      while (left > 0 && left < 5 * 500) {
        await sleep(100);
        left = await remainingExpired(db, backlog);
      }
      const now = Date.now();
      samples.push([(now - resumedAt) / 1000, left]);
      if (left === 0 || now - resumedAt > options.timeout * 1000) {
        timedOut = left > 0;
        endedAt = now;
        resolveDone();
      } else if (now - lastProgress >= PROGRESS_EVERY_MS) {
        const [ps, pl] = samples[samples.length - 2] ?? [0, backlog.messages];
        const recent = (pl - left) / Math.max(samples[samples.length - 1][0] - ps, 0.001);
        log(
          `  +${Math.round((now - resumedAt) / 1000)} s: ${left.toLocaleString('en-US')} expired left, ${formatNumber(recent)} messages/s just now`,
        );
        lastProgress = now;
      }
    };
    const b = await phase('B', purgeDone, progress);
    const drainB = await waitForDrain(120_000);

    // --- what the purge did, and whether everything is as it should be
    const purgeSeconds = Math.max((endedAt - resumedAt) / 1000, 0.001);
    const checks: Checks = await runChecks(db, runStartedAt);
    const purgedMessages = backlog.messages - checks.expiredMessages;
    const purgedEntries = backlog.entries - checks.expiredEntries;
    const purgeRate = purgedMessages / purgeSeconds;
    const entriesRate = purgedEntries / purgeSeconds;
    const half = samples.find(([, left]) => left <= backlog.messages / 2)?.[0] ?? NaN;
    const firstHalfRate = backlog.messages / 2 / half;
    const secondHalfRate = backlog.messages / 2 / (purgeSeconds - half);
    // A purge job counts what it deleted when it ends, up to its 10 s budget after
    // its last delete: wait for the job still running before reading the counter.
    for (const until = Date.now() + 15_000; (await queue.getActiveCount()) > 0 && Date.now() < until;) await sleep(100);
    const metrics = await fetch(`${delivery.url}/metrics`)
      .then((response) => response.text())
      .catch(() => '');
    const metric = (kind: string): number =>
      Number(new RegExp(`^delivery_purged_total\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const failedJobs = await queue.getFailed(0, 4);
    const failedCount = await queue.getFailedCount();
    const sendRate = b.post.rate;
    const keepRatio = purgeRate / sendRate;
    const accepted = a.post.count + b.post.count + a.visible.count + b.visible.count;
    const checkLines: [string, boolean][] = [
      [
        `counters exact: sum of total_items ${formatNumber(checks.counted)} = ${formatNumber(checks.entries)} entries, ${checks.mismatched} inboxes differ, ${checks.negative} negative`,
        checks.counted === checks.entries && checks.mismatched === 0 && checks.negative === 0,
      ],
      [
        `nothing expired left: ${checks.expiredMessages} messages, ${checks.expiredEntries} entries; ${checks.orphanEntries} entries without their message`,
        checks.expiredMessages === 0 && checks.expiredEntries === 0 && checks.orphanEntries === 0,
      ],
      [
        `sends delivered: ${formatNumber(checks.sentMessages)} messages of the run (>= ${formatNumber(accepted)} answered 200; warm-up sends too), ` +
          `${checks.undelivered} undelivered, ${formatNumber(checks.sentEntries)} entries (${RECIPIENTS_PER_MESSAGE} each: ${formatNumber(checks.sentMessages * RECIPIENTS_PER_MESSAGE)})`,
        checks.sentMessages >= accepted &&
          checks.undelivered === 0 &&
          checks.sentEntries === checks.sentMessages * RECIPIENTS_PER_MESSAGE,
      ],
      [
        `delivery's delivery_purged_total: ${formatNumber(metric('messages'))} messages, ${formatNumber(metric('inbox-entries'))} entries; ` +
          `${failedCount} failed maintenance jobs${failedJobs[0] ? ` (last: ${failedJobs[0].failedReason})` : ''}`,
        metric('messages') === purgedMessages && metric('inbox-entries') === purgedEntries && failedCount === 0,
      ],
    ];
    // Not a correctness check: whether the service answered all the load offered (dropped: never sent, 2,000 were in flight).
    const loadErrors = [a.post, b.post, a.get, b.get, a.visible, b.visible].reduce((sum, m) => sum + m.errors, 0);
    const sustainedLine =
      `load answered: POST ${a.post.errors}/${b.post.errors}, GET ${a.get.errors}/${b.get.errors}, ` +
      `probes ${a.visible.errors}/${b.visible.errors} not answered 200 or never sent (A/B)`;

    // --- report
    const phases = [a, b];
    log('');
    log(measurementsTable(phases.flatMap((p) => [withoutWindows(p.post), withoutWindows(p.get), p.visible])));
    log('');
    log(
      table(
        ['purge', 'messages', 'entries', 'seconds', 'messages/s', 'entries/s', '1st half msg/s', '2nd half msg/s'],
        [
          [
            timedOut ? 'B (timed out)' : 'B',
            formatNumber(purgedMessages),
            formatNumber(purgedEntries),
            purgeSeconds.toFixed(1),
            formatNumber(purgeRate),
            formatNumber(entriesRate),
            formatNumber(firstHalfRate),
            formatNumber(secondHalfRate),
          ],
        ],
      ),
    );
    log('');
    log(
      `keeps up: purge ${formatNumber(purgeRate)} messages/s / sends ${formatNumber(sendRate)}/s during it = ${keepRatio.toFixed(2)} ` +
        `(target >= 1.00): ${keepRatio >= 1 && !timedOut ? 'ok' : 'MISS'}; sends offered ${options.rate}/s, answered 200 ` +
        `${formatNumber(sendRate)}/s (${formatNumber(b.post.errors)} not)`,
    );
    log('');
    const latencyRow = (label: string, x: Measurement, y: Measurement): string[] => [
      label,
      formatMs(x.p50Ms),
      formatMs(y.p50Ms),
      ratio(y.p50Ms, x.p50Ms),
      formatMs(x.p99Ms),
      formatMs(y.p99Ms),
      ratio(y.p99Ms, x.p99Ms),
    ];
    log(
      table(
        ['latency (ms)', 'A p50', 'B p50', 'B/A', 'A p99', 'B p99', 'B/A'],
        [
          latencyRow('POST outbox', a.post, b.post),
          latencyRow('GET first page', a.get, b.get),
          latencyRow('200-to-visible', a.visible, b.visible),
        ],
      ),
    );
    log('');
    // B window by window: the backlog left at its start, and the latencies of the requests started in it.
    const leftAt = (seconds: number): number => [...samples].reverse().find(([at]) => at <= seconds)?.[1] ?? NaN;
    log(
      table(
        ['B timeline', 'expired left', 'POST/s', 'POST p50', 'POST p99', 'GET p50', 'GET p99'],
        b.post.windows.map((w, i) => [
          `${w.at.toFixed(0)} s`,
          formatNumber(leftAt(w.at)),
          formatNumber(w.ok / (WINDOW_MS / 1000)),
          formatMs(w.p50Ms),
          formatMs(w.p99Ms),
          formatMs(b.get.windows[i]?.p50Ms ?? NaN),
          formatMs(b.get.windows[i]?.p99Ms ?? NaN),
        ]),
      ),
    );
    log('(the last window is cut short by the end of the purge)');
    log('');
    log(
      table(
        ['phase', 'WAL MB', 'checkpoints', 'undelivered max', 'drained after', 'lock-wait samples', 'most waiting'],
        phases.map((p, i) => [
          p.cpu.phase,
          formatNumber(p.walBytes / 1e6),
          formatNumber(p.checkpoints),
          formatNumber(p.maxUndelivered),
          `${formatNumber([drainA, drainB][i])} ms`,
          `${p.locks.waiting}/${p.locks.samples}`,
          formatNumber(p.locks.most),
        ]),
      ),
    );
    for (const p of phases) {
      const waits = Object.entries(p.locks.byStatement).sort((x, y) => y[1] - x[1]);
      log(
        `${p.cpu.phase} lock waits (waiter <- blocker: samples): ${waits.map(([key, n]) => `${key}: ${n}`).join(', ') || 'none'}`,
      );
    }
    log('');
    // Backends busy on average (samples every 200 ms), by statement and wait: the top of B, beside A.
    const busy = (p: Phase, key: string): number => (p.locks.activity[key] ?? 0) / Math.max(p.locks.samples, 1);
    const top = Object.keys(b.locks.activity)
      .sort((x, y) => busy(b, y) - busy(b, x))
      .slice(0, 12);
    log(
      table(
        ['database time (backends)', 'A', 'B'],
        [
          ...top.map((key) => [key, busy(a, key).toFixed(2), busy(b, key).toFixed(2)]),
          [
            'all',
            ...phases.map((p) =>
              (Object.values(p.locks.activity).reduce((x, y) => x + y, 0) / Math.max(p.locks.samples, 1)).toFixed(2),
            ),
          ],
        ],
      ),
    );
    log('');
    const names = ['gateway', 'quota', 'delivery', 'postgres', 'redis', 'bench', 'others'];
    log(
      table(
        ['CPU cores', 'seconds', ...names, 'others %'],
        phases.map((p) => [
          p.cpu.phase,
          p.cpu.seconds.toFixed(0),
          ...names.map((name) => (p.cpu.cores[name] ?? NaN).toFixed(2)),
          `${p.cpu.othersPercent.toFixed(0)}%`,
        ]),
      ),
    );
    log(
      '(cores busy on average: postgres is the postmaster, its background processes and the backends of this database; redis every redis-server, shared; ' +
        "bench this process, the load generator; others the rest of the machine, i.e. other people's load)",
    );
    log('');
    for (const [line, ok] of checkLines) log(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
    log(`${loadErrors === 0 ? 'ok  ' : 'MISS'} ${sustainedLine}`);
    log('');
    log(
      `fill: directory ${(directoryMs / 1000).toFixed(1)} s, backlog ${(backlogMs / 1000).toFixed(1)} s; ${cpus().length} cores; ` +
        `phase A ${a.cpu.seconds.toFixed(0)} s, phase B ${b.cpu.seconds.toFixed(0)} s`,
    );

    const report = {
      startedAt: new Date(started).toISOString(),
      node: process.version,
      cpus: cpus().length,
      postgres: serverVersion,
      autovacuum,
      options,
      fill: { directoryMs, backlogMs, timings: backlog.timings, messages: backlog.messages, entries: backlog.entries },
      phases: { A: a, B: b },
      drainMs: { A: drainA, B: drainB },
      purge: {
        messages: purgedMessages,
        entries: purgedEntries,
        seconds: purgeSeconds,
        messagesPerSecond: purgeRate,
        entriesPerSecond: entriesRate,
        firstHalfRate,
        secondHalfRate,
        timedOut,
        samples,
        metrics: { messages: metric('messages'), entries: metric('inbox-entries') },
        failedJobs: failedCount,
      },
      keepUp: { purgeRate, sendRate, ratio: keepRatio, pass: keepRatio >= 1 && !timedOut },
      latencyRatios: {
        postP50: b.post.p50Ms / a.post.p50Ms,
        postP99: b.post.p99Ms / a.post.p99Ms,
        getP50: b.get.p50Ms / a.get.p50Ms,
        getP99: b.get.p99Ms / a.get.p99Ms,
        visibleP50: b.visible.p50Ms / a.visible.p50Ms,
        visibleP99: b.visible.p99Ms / a.visible.p99Ms,
      },
      checks: {
        ...checks,
        pass: checkLines.map(([line, ok]) => ({ line, ok })),
        load: { line: sustainedLine, ok: loadErrors === 0 },
      },
    };
    await cleanup();
    await writeResults(options.json, report);
    log(
      `· results: ${relative(process.cwd(), options.json)} (${Math.round((Date.now() - started) / 1000)} s in all, ` +
        `${(quietWaitMs / 1000).toFixed(0)} s of it waiting for other people's load to pass)`,
    );
    if (!checkLines.every(([, ok]) => ok)) process.exitCode = 1;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

main().catch((error: unknown) => {
  if (interrupted) return;
  process.stderr.write(`bench:purge: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
