/**
 * The load benchmark: the real gateway, quota and delivery as separate
 * processes from the build, against a scratch database and a private Redis
 * prefix, each phase beside a floor measured in the same run.
 *
 *   npm run bench:load [-- --users 1000000 --inbox 1000000 --duration 15 ...]
 *
 * docs/performance.md explains the phases, the floors and how to read the ratios.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { freePort } from '../../test/setup/free-port';
import { withDatabase } from '../../test/setup/postgres-admin';
import { RedisCluster, startRedisCluster } from '../../test/setup/redis-cluster';
import { Replica, startReplica } from '../../test/setup/replica';
import { awaitQuiet, clockTicksPerSecond, cpuPerOperation, CpuSample, sampleCpu, summariseCpuProfile } from './cpu';
import {
  countedEntries,
  dropDatabase,
  fill,
  insertUndelivered,
  migrate,
  recreateDatabase,
  sendBody,
  undeliveredCount,
} from './fill';
import { rotatingGets, Sends } from './requests';
import { cannon, Connection, getPage, RequestSpec, visibleLatency } from './load';
import { Child, Env, forkTsWorker, ROOT, spawnService, spawnTs, stopAll, waitReady } from './processes';
import {
  CpuRow,
  cpuTable,
  Measurement,
  measurement,
  measurementsTable,
  RatioLine,
  ratioLine,
  ratiosTable,
  writeJson,
} from './report';
import type { FloorRun, FloorWork } from './sql-floors';
import { deleteRedisPrefix, ensureBuild } from './setup';

const QUIET_PERCENT = 10;

const USAGE = `npm run bench:load -- [options]
  --users N          players in the directory (100000)
  --inbox N          entries in the deep-page reader's inbox (100000)
  --senders N        players who send (1000)
  --recipients N     players who receive (1000)
  --seed-entries N   entries each recipient starts with, so first pages are full (30)
  --duration S       seconds of each measured phase and floor (15)
  --warmup S         seconds of warm-up before each floor and the first phases (2)
  --connections N    HTTP connections of the load (32)
  --pool N           DATABASE_POOL_SIZE of gateway, peer and the SQL floors (10)
  --delivery-pool N  DATABASE_POOL_SIZE of delivery and the fan-out floors (10)
  --poll-ms MS       poll interval of the visible-latency probe (3)
  --quiet-wait S     before each measurement, wait up to S seconds for other people's load to drop under
                     ${QUIET_PERCENT} % of the machine (15; 0: never wait)
  --database NAME    scratch database, dropped and re-created (xblmsg_bench)
  --json FILE        results (bench/load/results/<timestamp>.json)
  --rebuild          run npm run build even if dist/ is up to date
  --cpu-prof         run the gateway with --cpu-prof and print its top self-time functions
  --throttle         count every request in the per-user throttle (limits too high to refuse any), to
                     measure its cost; without it the throttle is off
  --keep             keep the scratch database afterwards
  --replica          serve listings and counts from a real streaming replica of the scratch database
                     (DATABASE_READ_URL; pg_basebackup to a port of its own; run
                     bash scripts/ensure-services --replication once first)
  --redis-cluster    run every service on a real Redis Cluster of 3 masters and 3 replicas from the
                     installed redis-server (REDIS_CLUSTER_NODES), on ports of its own, stopped at the end`;

const DEEP_TOKENS = 32;
const WALK_PAGE = 100; // the contract's largest maxItems
const DRAIN_PASS_MS = 2000;
const QUOTA_UNLIMITED = 2_000_000_000;

interface Options {
  users: number;
  inbox: number;
  senders: number;
  recipients: number;
  seedEntries: number;
  duration: number;
  warmup: number;
  connections: number;
  pool: number;
  deliveryPool: number;
  pollMs: number;
  quietWait: number;
  database: string;
  json: string;
  rebuild: boolean;
  cpuProf: boolean;
  throttle: boolean;
  keep: boolean;
  replica: boolean;
  redisCluster: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '100000' },
      inbox: { type: 'string', default: '100000' },
      senders: { type: 'string', default: '1000' },
      recipients: { type: 'string', default: '1000' },
      'seed-entries': { type: 'string', default: '30' },
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '32' },
      pool: { type: 'string', default: '10' },
      'delivery-pool': { type: 'string', default: '10' },
      'poll-ms': { type: 'string', default: '3' },
      'quiet-wait': { type: 'string', default: '15' },
      database: { type: 'string', default: 'xblmsg_bench' },
      json: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      throttle: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      replica: { type: 'boolean', default: false },
      'redis-cluster': { type: 'boolean', default: false },
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
    users: int('users', 1000),
    inbox: int('inbox', 2 * WALK_PAGE * DEEP_TOKENS),
    senders: int('senders', 1),
    recipients: int('recipients', 5),
    seedEntries: int('seed-entries', 26),
    duration: int('duration', 1),
    warmup: int('warmup', 0),
    connections: int('connections', 1),
    pool: int('pool', 1),
    deliveryPool: int('delivery-pool', 1),
    pollMs: int('poll-ms', 1),
    quietWait: int('quiet-wait', 0),
    database: values.database,
    json: values.json ?? join(ROOT, 'bench/load/results', `${stamp}.json`),
    rebuild: values.rebuild,
    cpuProf: values['cpu-prof'],
    throttle: values.throttle,
    keep: values.keep,
    replica: values.replica,
    redisCluster: values['redis-cluster'],
  };
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);
let interrupted = false;

async function main(): Promise<void> {
  const options = parseOptions();
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/xblmsg';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const adminUrl = withDatabase(baseUrl, 'postgres');
  const databaseUrl = withDatabase(baseUrl, options.database);
  const prefix = `xblbench-${process.pid}`;
  const tag = randomBytes(3).toString('hex');
  const started = Date.now();

  let monitor: Client | null = null;
  let replica: Replica | null = null;
  let redisCluster: RedisCluster | null = null;
  let cleaned: Promise<void> | null = null;
  // Children first (they hold the keys and connections), then Redis, then the database.
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await stopAll().catch((error: Error) => log(`! stopping children: ${error.message}`));
      // A scratch cluster goes whole; on the shared Redis, only this run's prefix.
      const keys = redisCluster
        ? await redisCluster.stop().then(
            () => 0,
            (error: Error) => (log(`! Redis Cluster: ${error.message}`), -1),
          )
        : await deleteRedisPrefix(redisUrl, prefix).catch((error: Error) => (log(`! Redis: ${error.message}`), -1));
      await monitor?.end().catch(() => undefined);
      await replica?.stop().catch((error: Error) => log(`! replica: ${error.message}`));
      if (!options.keep)
        await dropDatabase(adminUrl, options.database).catch((error: Error) => log(`! drop: ${error.message}`));
      log(
        `· cleaned up: children stopped, ${redisCluster ? 'the scratch Redis Cluster stopped' : `${keys} Redis keys under ${prefix}: deleted`}, database ${options.database} ${options.keep ? 'kept' : 'dropped'}`,
      );
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      log(`! ${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  // Whatever was in flight when the signal came fails now; only the cleanup matters.
  process.on('unhandledRejection', (error) => {
    if (!interrupted) throw error;
  });

  try {
    const build = await ensureBuild(options.rebuild, log);
    log(
      `load benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), CLK_TCK ${clockTicksPerSecond()}`,
    );
    log(
      `  users ${options.users}, inbox ${options.inbox}, senders ${options.senders}, recipients ${options.recipients}, ` +
        `duration ${options.duration} s, warm-up ${options.warmup} s, ${options.connections} connections, ` +
        `pool ${options.pool} (gateway, peer, SQL floors), ${options.deliveryPool} (delivery, fan-out floors)${options.replica ? ', listings from a streaming replica' : ''}${options.redisCluster ? ', on a Redis Cluster' : ''}; ${build}`,
    );

    // --- data
    log(`· database ${options.database}: create, migrate, fill`);
    await recreateDatabase(adminUrl, options.database);
    await migrate(databaseUrl);
    const roles = await fill(databaseUrl, options, log);
    monitor = new Client({ connectionString: databaseUrl });
    monitor.on('error', (error: Error) => interrupted || log(`! monitor connection: ${error.message}`));
    await monitor.connect();
    const db = monitor;
    let readUrl: string | null = null;
    if (options.replica) {
      const began = Date.now();
      replica = await startReplica(databaseUrl);
      await replica.caughtUp(120_000);
      readUrl = replica.rewrite(databaseUrl);
      log(
        `· replica on port ${replica.port} (pg_basebackup, caught up in ${((Date.now() - began) / 1000).toFixed(1)} s): listings and counts read there`,
      );
    }
    if (options.redisCluster) {
      const began = Date.now();
      redisCluster = await startRedisCluster();
      log(
        `· Redis Cluster of 3 masters and 3 replicas on ports ${redisCluster.nodes.map((node) => node.port).join(', ')} ` +
          `(ready in ${((Date.now() - began) / 1000).toFixed(1)} s): every service uses it`,
      );
    }
    const serverVersion = (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;

    // --- tokens: one per player the load uses
    const secret = randomBytes(32).toString('hex');
    const authorization = new Map<string, string>();
    for (const user of [...roles.senders, ...roles.recipients, roles.reader, roles.prober, roles.watcher]) {
      const token = await signUserToken({
        xuid: user.xuid as Xuid,
        gamertag: user.gamertag,
        tier: SubscriptionTier.Gold,
        secret,
        expiresInSeconds: 6 * 3600,
      });
      authorization.set(user.xuid, `Bearer ${token}`);
    }

    // --- services
    const [gatewayPort, quotaPort, quotaHttpPort, deliveryPort, peerPort] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    const common: Env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      ...(redisCluster ? { REDIS_CLUSTER_NODES: redisCluster.seeds } : {}),
    };
    // One key for both ends of the quota RPC (quota refuses calls signed otherwise).
    const quotaRpcKeys = `b1:${randomBytes(24).toString('hex')}`;
    const profileDir = join(ROOT, 'bench/load/results/profiles', String(process.pid));
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
        // Each bench user sends or reads several times a second: off, or counted but never refusing.
        THROTTLE_BURST_REQUESTS: options.throttle ? QUOTA_UNLIMITED : 0,
        THROTTLE_SUSTAIN_REQUESTS: options.throttle ? QUOTA_UNLIMITED : 0,
        QUOTA_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        DATABASE_POOL_SIZE: options.pool,
        AUTH_JWT_SECRET: secret,
        ADMIN_TOKEN: randomBytes(16).toString('hex'),
        PAGING_TOKEN_KEYS: `b1:${randomBytes(24).toString('hex')}`,
        QUOTA_RPC_KEYS: quotaRpcKeys,
        ...(readUrl ? { DATABASE_READ_URL: readUrl } : {}),
      },
      `http://127.0.0.1:${gatewayPort}`,
      options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    );
    const deliveryEnv: Env = {
      ...common,
      DELIVERY_HTTP_HOST: '127.0.0.1',
      DELIVERY_HTTP_PORT: deliveryPort,
      DATABASE_POOL_SIZE: options.deliveryPool,
      // The backlog is in the queue; the sweeper would only add duplicate jobs to the drain (see docs/performance.md).
      REDELIVER_AFTER_SECONDS: 600,
    };
    let delivery: Child | null = null;
    const startDelivery = async (): Promise<Child> => {
      const child = spawnService('delivery', deliveryEnv, `http://127.0.0.1:${deliveryPort}`);
      await waitReady(child);
      return child;
    };
    const stopDelivery = async (): Promise<void> => {
      await delivery?.stop();
      delivery = null;
    };
    await waitReady(quota);
    await waitReady(gateway);
    delivery = await startDelivery();
    const gatewayUrl = gateway.url;
    log(
      `· services ready: gateway ${gateway.pid}, quota ${quota.pid}, delivery ${delivery.pid} (NODE_ENV=production, Postgres ${serverVersion})`,
    );

    const floors = forkTsWorker<FloorRun & FloorWork, Measurement>('sql-floors', 'bench/load/sql-floors.ts');
    const floor = (work: FloorWork, run: Pick<FloorRun, 'label' | 'pool' | 'concurrency'>) =>
      floors.request({
        ...work,
        ...run,
        databaseUrl,
        seconds: options.duration,
        warmupSeconds: options.warmup,
        ttlSeconds: 2_592_000,
      });
    const sends = new Sends(roles, authorization, tag);
    const load = (label: string, url: string, next: () => RequestSpec, seconds = options.duration, overallRate?: number) =>
      cannon({ label, url, connections: options.connections, seconds, overallRate, next });
    const waitForDrain = async (timeoutMs: number, everyMs = 50): Promise<number> => {
      const from = Date.now();
      while ((await undeliveredCount(db)) > 0) {
        if (Date.now() - from > timeoutMs) return NaN;
        await sleep(everyMs);
      }
      return Date.now() - from;
    };
    const deleteUndelivered = async (): Promise<void> => {
      await db.query(`DELETE FROM messages WHERE delivered_at IS NULL`);
      await db.query(`VACUUM (ANALYZE) messages`);
    };
    let peer: Child | null = null;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const startPeer = async (): Promise<void> => {
      peer = spawnTs(
        'peer',
        'bench/load/peer.ts',
        { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: options.pool, PORT: peerPort },
        peerUrl,
      );
      await waitReady(peer);
    };
    const stopPeer = async (): Promise<void> => {
      await peer?.stop();
      peer = null;
    };
    const cpuOf = (): CpuSample =>
      sampleCpu(
        { gateway: gateway.pid, quota: quota.pid, delivery: delivery?.pid, peer: peer?.pid, floors: floors.child.pid },
        options.database,
      );
    const cpuRows: CpuRow[] = [];
    const keepCpu = (m: Measurement, per: string, before: CpuSample, after: CpuSample, operations = m.count): void => {
      const use = cpuPerOperation(before, after, operations);
      cpuRows.push({ phase: m.label, per, ...use });
      m.othersPercent = use.othersPercent;
    };
    let quietWaitMs = 0;
    const quiet = async (): Promise<void> => {
      if (options.quietWait > 0) quietWaitMs += await awaitQuiet(cpuOf, QUIET_PERCENT, options.quietWait * 1000);
    };
    /** Waits for quiet, runs a measurement and keeps the CPU each process spent per operation meanwhile. */
    const withCpu = async (per: string, run: () => Promise<Measurement>): Promise<Measurement> => {
      await quiet();
      const before = cpuOf();
      const m = await run();
      keepCpu(m, per, before, cpuOf());
      return m;
    };
    const results: Record<string, Measurement> = {};
    const keep = (m: Measurement): Measurement => {
      results[m.label] = m;
      log(
        `  ${m.label}: ${Math.round(m.rate)}/s, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms${m.errors ? `, ${m.errors} errors` : ''}`,
      );
      return m;
    };
    const recipientsGet = rotatingGets(roles.recipients, authorization, () => 'maxItems=25');

    // --- warm-up of the service paths (JIT, pools, prepared statements)
    if (options.warmup > 0) {
      log(`· warm-up ${options.warmup} s POST, ${options.warmup} s GET`);
      await load('warm-up POST', gatewayUrl, sends.next, options.warmup);
      await load('warm-up GET', gatewayUrl, recipientsGet, options.warmup);
      await waitForDrain(60_000);
    }

    // --- send floors (delivery stopped: their messages are deleted afterwards, never delivered)
    log('· send floors: peer POST, SQL send statements');
    await stopDelivery();
    await startPeer();
    if (options.warmup > 0) await load('peer warm-up', peerUrl, sends.next, options.warmup);
    const peerPost = keep(await withCpu('send', () => load('floor: peer POST', peerUrl, sends.next)));
    const sqlSend = keep(
      await withCpu('send', () =>
        floor({ kind: 'send' }, { label: 'floor: SQL send', pool: options.pool, concurrency: options.connections }),
      ),
    );
    await stopPeer(); // idle until the GET floors; its CPU would only add noise
    await deleteUndelivered();
    delivery = await startDelivery();

    // --- (a) POST with delivery running
    log('· (a) POST outbox, delivery running');
    const backlog: [number, number][] = [];
    let maxBacklog = 0;
    const a0 = Date.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = await undeliveredCount(db);
        backlog.push([Date.now() - a0, n]);
        maxBacklog = Math.max(maxBacklog, n);
        await sleep(250);
      }
    })();
    sampler.catch(() => undefined); // awaited below; never left unhandled meanwhile
    const postA = await withCpu('send', () => load('(a) POST with delivery', gatewayUrl, sends.next));
    sampling = false;
    await sampler;
    const drainMs = await waitForDrain(120_000);
    postA.extra = { ...postA.extra, maxBacklog, drainMs, drain: drainMs <= DRAIN_PASS_MS ? 'pass' : 'MISS' };
    keep(postA);

    // --- (b) POST alone: delivery stopped, the backlog stays
    log('· (b) POST outbox, delivery stopped');
    await stopDelivery();
    const postB = await withCpu('send', () => load('(b) POST alone', gatewayUrl, sends.next));
    await sleep(500); // sends still in flight when the load stopped
    const backlogB = await undeliveredCount(db);
    postB.extra = { ...postB.extra, backlog: backlogB };
    keep(postB);

    // --- fan-out floors on messages of their own (the backlog of (b) waits in the queue meanwhile)
    log('· fan-out floors: one message per transaction, DELIVERY_SQL.deliver batches');
    const floorMessages = Math.max(1000, backlogB);
    const fanOut = async (kind: 'fanout-one' | 'fanout-batch', label: string): Promise<Measurement> => {
      const ids = await insertUndelivered(db, floorMessages);
      // One transaction per connection for the first; the worker's shape for the second (batches of 50, two at a time).
      const m = await withCpu('message', () =>
        kind === 'fanout-one'
          ? floor({ kind, messageIds: ids }, { label, pool: options.deliveryPool, concurrency: options.deliveryPool })
          : floor({ kind, messageIds: ids, batchSize: 50 }, { label, pool: options.deliveryPool, concurrency: 2 }),
      );
      await db.query(`DELETE FROM messages WHERE id = ANY($1::varchar[]) AND delivered_at IS NULL`, [ids]);
      return keep(m);
    };
    const fanOne = await fanOut('fanout-one', 'floor: fan-out 1 msg/tx');
    const fanBatch = await fanOut('fanout-batch', 'floor: DELIVERY_SQL.deliver x50');

    // --- (c) delivery alone drains the backlog of (b)
    log(`· (c) delivery alone drains ${backlogB} messages`);
    await quiet();
    const entriesBefore = await countedEntries(db);
    const c0 = new Date();
    delivery = await startDelivery();
    // From readiness on: the boot is left out, and so is whatever it delivered before /readyz answered.
    const cpuC0 = cpuOf();
    const drainAllMs = await waitForDrain(600_000, 100);
    const cpuC1 = cpuOf();
    const {
      rows: [span],
    } = await db.query<{ n: string; seconds: number }>(
      `SELECT count(*) AS n, extract(epoch FROM max(delivered_at) - min(delivered_at))::float8 AS seconds
         FROM messages WHERE delivered_at >= $1`,
      [c0],
    );
    const deliveredC = Number(span.n);
    const entriesC = (await countedEntries(db)) - entriesBefore;
    const spanSeconds = Math.max(span.seconds, 0.001);
    const deliveryC = keep(
      measurement('(c) delivery alone', deliveredC, spanSeconds, null, 0, {
        entries: entriesC,
        'entries/s': entriesC / spanSeconds,
        drainAfterReadyMs: drainAllMs,
      }),
    );
    keepCpu(deliveryC, 'message', cpuC0, cpuC1);

    // --- (d) GET first page
    log('· (d) GET first page; floors: peer GET, SQL first page');
    const recipientXuids = roles.recipients.map((user) => user.xuid);
    await startPeer();
    if (options.warmup > 0) await load('peer warm-up GET', peerUrl, recipientsGet, options.warmup);
    const peerGet = keep(await withCpu('page', () => load('floor: peer GET', peerUrl, recipientsGet)));
    const sqlFirst = keep(
      await withCpu('page', () =>
        floor(
          { kind: 'first-page', recipients: recipientXuids },
          { label: 'floor: SQL first page', pool: options.pool, concurrency: options.connections },
        ),
      ),
    );
    const getFirst = keep(await withCpu('page', () => load('(d) GET first page', gatewayUrl, recipientsGet)));
    await stopPeer();

    // --- (e) GET deep page: walk the reader's inbox through the API to its middle, keep the tokens found there
    log(`· (e) GET deep page: walking ${options.inbox} entries to the middle, ${WALK_PAGE} a page`);
    const walker = new Connection(gatewayUrl);
    const readerAuth = { authorization: authorization.get(roles.reader.xuid) as string };
    const inboxPath = `/users/xuid(${roles.reader.xuid})/inbox`;
    const deep: { token: string; afterId: string; position: number }[] = [];
    const walkStarted = Date.now();
    let token: string | null = null;
    let position = 0;
    do {
      const query: string = `maxItems=${WALK_PAGE}${token ? `&continuationToken=${token}` : ''}`;
      const page = await getPage(walker, { method: 'GET', path: `${inboxPath}?${query}`, headers: readerAuth });
      position += page.results.length;
      token = page.pagingInfo.continuationToken;
      if (token) deep.push({ token, afterId: page.results[page.results.length - 1].header.id, position });
      if (deep.length > DEEP_TOKENS) deep.shift();
    } while (token && position < options.inbox / 2);
    walker.close();
    const walkMs = Date.now() - walkStarted;
    log(
      `  walked ${position} entries in ${walkMs} ms; deep tokens at positions ${deep[0].position}..${deep[deep.length - 1].position}`,
    );
    const deepGet = rotatingGets(
      [roles.reader],
      authorization,
      (n) => `maxItems=25&continuationToken=${deep[n % deep.length].token}`,
    );
    const sqlNext = keep(
      await withCpu('page', () =>
        floor(
          { kind: 'next-page', reader: roles.reader.xuid, afterIds: deep.map((d) => d.afterId) },
          { label: 'floor: SQL next page', pool: options.pool, concurrency: options.connections },
        ),
      ),
    );
    const getDeep = keep(await withCpu('page', () => load('(e) GET deep page', gatewayUrl, deepGet)));
    getDeep.extra = { walkMs, from: deep[0].position, to: deep[deep.length - 1].position };

    // --- (f) 200-to-visible at half the rate of (a)
    const paced = Math.max(1, Math.round(postA.rate / 2));
    log(`· (f) visible latency: ${paced} sends/s paced, probes polled every ${options.pollMs} ms`);
    const probeTag = (n: number) => `probe ${tag} ${n}`;
    const watcherPlus = roles.recipients.slice(0, 4);
    await quiet();
    const cpuF0 = cpuOf();
    const background = load('(f) paced POST', gatewayUrl, sends.next, options.duration, paced);
    const visible = await visibleLatency({
      label: '(f) 200-to-visible',
      url: gatewayUrl,
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
      until: background,
    });
    const pacedPost = await background;
    keepCpu(pacedPost, 'send', cpuF0, cpuOf()); // the probes' sends and polls included
    visible.othersPercent = pacedPost.othersPercent;
    keep(pacedPost);
    keep(visible);

    // --- report
    const ratios: RatioLine[] = [
      ratioLine('POST w/ delivery / peer POST', postA, peerPost, 0.35),
      ratioLine('POST w/ delivery / SQL send', postA, sqlSend, null),
      ratioLine('POST alone / peer POST', postB, peerPost, null),
      ratioLine('delivery alone / fan-out 1 msg/tx (entries)', deliveryC, fanOne, 1.0, ' e/s', (m) =>
        Number(m.extra?.['entries/s']),
      ),
      ratioLine('delivery alone / DELIVERY_SQL.deliver (entries)', deliveryC, fanBatch, null, ' e/s', (m) =>
        Number(m.extra?.['entries/s']),
      ),
      ratioLine('GET first / peer GET', getFirst, peerGet, 0.8),
      ratioLine('GET first / SQL first page', getFirst, sqlFirst, null),
      ratioLine('GET deep / GET first (within 1.2x)', getDeep, getFirst, 1 / 1.2),
      ratioLine('GET deep / SQL next page', getDeep, sqlNext, null),
    ];
    const visiblePass = visible.p50Ms <= 20 && visible.p99Ms <= 100;
    log('');
    log(measurementsTable(Object.values(results)));
    log('');
    log(ratiosTable(ratios));
    log('');
    log(
      `200-to-visible at ${Math.round(results['(f) paced POST'].rate)} sends/s: p50 ${visible.p50Ms.toFixed(1)} ms (target <= 20), ` +
        `p99 ${visible.p99Ms.toFixed(1)} ms (target <= 100): ${visiblePass ? 'ok' : 'MISS'}; ${visible.count} probes, ` +
        `others ${(visible.othersPercent ?? NaN).toFixed(0)} %`,
    );
    log(
      `(a) backlog max ${maxBacklog} messages, drained ${Number.isFinite(drainMs) ? `${drainMs} ms` : 'not within 120 s'} after the load ` +
        `stopped (target <= ${DRAIN_PASS_MS} ms): ${drainMs <= DRAIN_PASS_MS ? 'ok' : 'MISS'}`,
    );
    log('');
    log(cpuTable(cpuRows));
    log(
      '(postgres: the postmaster, its background processes and the backends of this database; redis: every redis-server, ' +
        'shared; floors: the SQL floor process; bench: this process, the load generator; others: the rest of the machine, ' +
        "i.e. other people's load: the noise of the row. Neither bench nor others is in the total.)",
    );

    const report = {
      startedAt: new Date(started).toISOString(),
      node: process.version,
      cpus: cpus().length,
      postgres: serverVersion,
      options,
      results,
      ratios,
      visible: { ...visible, targetP50Ms: 20, targetP99Ms: 100, pass: visiblePass },
      backlog: { samples: backlog, max: maxBacklog, drainMs, passMs: DRAIN_PASS_MS },
      cpu: cpuRows,
      profile: [] as string[],
    };
    await cleanup();
    if (options.cpuProf) {
      const profiles = readdirSync(profileDir).filter((file) => file.endsWith('.cpuprofile'));
      if (profiles.length > 0) {
        const file = join(profileDir, profiles[0]);
        report.profile = summariseCpuProfile(file);
        log('');
        log(`gateway CPU profile (${relative(ROOT, file)}), top self time:`);
        for (const line of report.profile) log(`  ${line}`);
      }
    }
    writeJson(options.json, report);
    log(
      `· results: ${relative(process.cwd(), options.json)} (${Math.round((Date.now() - started) / 1000)} s in all, ` +
        `${(quietWaitMs / 1000).toFixed(0)} s of it waiting for other people's load to pass)`,
    );
  } catch (error) {
    await cleanup();
    throw error;
  }
}

main().catch((error: unknown) => {
  if (interrupted) return; // the signal handler exits once the cleanup is done
  process.stderr.write(`bench:load: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
