import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { Pool } from 'pg';
import { Counter, Gauge, Registry } from 'prom-client';
import { SharedConfig } from '../config';
import { isDependencyFailure } from '../errors/dependency-failure';
import { METRICS_REGISTRY } from '../metrics/metrics.module';
import { poolOptions } from './database.options';
import { Database, Queryable, Runner, Statement, StatementResult, statement } from './database.service';

/** Where listing reads go now: `up` the replica; otherwise the primary. */
export type ReplicaState = 'unknown' | 'up' | 'lagging' | 'down';

export interface ReplicaStatus {
  state: ReplicaState;
  /** How far the replica's replay is behind the primary, as last sampled (null: not known). */
  lagMs: number | null;
}

/** The lag sampler's statements (never prepared on purpose: each runs a few times a second at most). */
export const REPLICA_SQL = {
  primaryLsn: statement<[], { lsn: string }>('replica.primary-lsn', 'SELECT pg_current_wal_flush_lsn()::text AS lsn'),
  replayLsn: statement<[], { recovering: boolean; lsn: string | null }>(
    'replica.replay-lsn',
    'SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn',
  ),
} as const;

// Samples kept while the replica is behind: enough for 4 × the largest lag limit at the slowest sampling.
const MAX_SAMPLES = 1000;

/** "16/B374D848" as a number that orders like the LSN. */
export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/**
 * How stale a replica is, from periodic samples: each sample notes the
 * primary's flushed WAL position and when; the replica is as current as the
 * newest sample its replayed position has reached. Unlike
 * `now() - pg_last_xact_replay_timestamp()`, an idle primary does not look
 * like lag, and a replica whose WAL receiver is cut does not look current.
 */
export class LagEstimator {
  private samples: { at: number; lsn: bigint }[] = [];

  /** Records the primary's position `lsn` as of `at` (ms). */
  primaryAt(at: number, lsn: bigint): void {
    this.samples.push({ at, lsn });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  /** The lag, in ms at `now`, of a replica that has replayed up to `replayed`; null before any sample. */
  lagAt(now: number, replayed: bigint): number | null {
    if (this.samples.length === 0) return null;
    let covered = -1;
    for (let i = this.samples.length - 1; i >= 0; i--) {
      if (this.samples[i].lsn <= replayed) {
        covered = i;
        break;
      }
    }
    if (covered === -1) return Math.max(0, now - this.samples[0].at); // at least this
    // Older samples can no longer matter: replay only moves forward.
    this.samples = this.samples.slice(covered);
    return Math.max(0, now - this.samples[0].at);
  }
}

/**
 * Reads that may be a little stale (inbox listings and counts) go through
 * this: to the streaming replica at DATABASE_READ_URL while it is at most
 * DATABASE_READ_MAX_LAG_MS behind the primary, else (lagging, down, or not
 * configured) to the primary. Writes, and reads whose result must include
 * the caller's own last write, use {@link Database}.
 *
 * The lag is sampled in the background (never per request). A replica call
 * that fails for want of the replica (connection refused or lost, recovery
 * conflict, timeout) is answered by the primary, and the replica is skipped
 * until the next sample finds it again.
 */
@Injectable()
export class ReadDatabase implements Queryable, OnModuleDestroy {
  private readonly logger = new Logger('ReadDatabase');
  private readonly replica?: { pool: Pool; runner: Runner };
  private readonly maxLagMs: number;
  private readonly intervalMs: number;
  private readonly lag = new LagEstimator();
  private status: ReplicaStatus = { state: 'unknown', lagMs: null };
  private timer?: NodeJS.Timeout;
  private tick?: Promise<void>;
  private stopped = false;
  private readonly reads?: Counter<'target'>;

  constructor(
    private readonly primary: Database,
    config: SharedConfig,
    @Optional() @Inject(METRICS_REGISTRY) registry?: Registry,
  ) {
    this.maxLagMs = config.DATABASE_READ_MAX_LAG_MS;
    this.intervalMs = Math.min(1000, Math.max(100, Math.floor(this.maxLagMs / 4)));
    if (config.DATABASE_READ_URL !== undefined) {
      const pool = new Pool({
        connectionString: config.DATABASE_READ_URL,
        ...poolOptions(config, config.DATABASE_STATEMENT_TIMEOUT_MS),
      });
      // A replica connection that dies while idle is dropped by the pool; without a listener it would crash the process.
      pool.on('error', () => undefined);
      this.replica = { pool, runner: new Runner(pool, config.DATABASE_PREPARED_STATEMENTS === 'true') };
      this.schedule(0);
    }
    if (registry) this.reads = this.instrument(registry);
  }

  /** Whether a replica is configured at all. */
  get configured(): boolean {
    return this.replica !== undefined;
  }

  /** The replica's state and lag as last sampled. */
  replicaStatus(): ReplicaStatus {
    return { ...this.status };
  }

  get maxLag(): number {
    return this.maxLagMs;
  }

  async run<P extends readonly unknown[], R extends object>(
    statement: Statement<P, R>,
    params: P,
  ): Promise<StatementResult<R>> {
    if (this.replica && this.status.state === 'up') {
      try {
        const result = await this.replica.runner.run(statement, params);
        this.reads?.inc({ target: 'replica' });
        return result;
      } catch (error) {
        if (!replicaUnavailable(error)) throw error;
        this.set({ state: 'down', lagMs: null });
      }
    }
    const result = await this.primary.run(statement, params);
    this.reads?.inc({ target: 'primary' });
    return result;
  }

  async rows<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<R[]> {
    return (await this.run(statement, params)).rows;
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.tick;
    await this.replica?.pool.end();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.tick = this.sample().finally(() => this.schedule(this.intervalMs));
    }, delayMs);
    // The sampler alone never keeps a process alive.
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    const replica = this.replica!;
    const at = Date.now();
    try {
      const [{ lsn }] = await withTimeout(this.primary.rows(REPLICA_SQL.primaryLsn, []), this.sampleTimeoutMs());
      this.lag.primaryAt(at, lsnValue(lsn));
    } catch {
      // The primary is away: every read fails whichever pool it takes; judge the replica on the samples so far.
    }
    let replayed: { recovering: boolean; lsn: string | null };
    try {
      [replayed] = await withTimeout(replica.runner.rows(REPLICA_SQL.replayLsn, []), this.sampleTimeoutMs());
    } catch {
      this.set({ state: 'down', lagMs: null });
      return;
    }
    // Not in recovery: a server that is its own primary is as current as it gets.
    const lagMs = !replayed.recovering ? 0 : replayed.lsn === null ? null : this.lag.lagAt(Date.now(), lsnValue(replayed.lsn));
    if (lagMs === null) this.set({ state: 'down', lagMs: null });
    else this.set({ state: lagMs > this.maxLagMs ? 'lagging' : 'up', lagMs });
  }

  private sampleTimeoutMs(): number {
    return Math.max(1000, this.intervalMs);
  }

  private set(status: ReplicaStatus): void {
    if (status.state !== this.status.state && status.state !== 'up' && !this.stopped) {
      const why = status.state === 'lagging' ? `${status.lagMs} ms behind (limit ${this.maxLagMs} ms)` : 'unreachable';
      this.logger.warn(`read replica ${why}: listings go to the primary`);
    } else if (status.state === 'up' && this.status.state !== 'up' && this.status.state !== 'unknown') {
      this.logger.log('read replica caught up: listings go to it again');
    }
    this.status = status;
  }

  private instrument(registry: Registry): Counter<'target'> {
    const read = () => this.status;
    const configured = this.configured;
    const state: Gauge<'state'> = new Gauge({
      name: 'database_read_replica_state',
      help: 'The read replica (DATABASE_READ_URL) as last sampled: 1 for its state (up: listings go to it)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        if (!configured) return;
        for (const name of ['up', 'lagging', 'down', 'unknown'] as const)
          state.set({ state: name }, read().state === name ? 1 : 0);
      },
    });
    const lag: Gauge = new Gauge({
      name: 'database_read_replica_lag_seconds',
      help: 'How far the read replica replays behind the primary, as last sampled (NaN while unreachable)',
      registers: [registry],
      collect() {
        if (!configured) return;
        const { lagMs } = read();
        lag.set(lagMs === null ? NaN : lagMs / 1000);
      },
    });
    return new Counter({
      name: 'database_reads_total',
      help: 'Listing reads (replica-eligible), by the server that answered them (replica, primary)',
      labelNames: ['target'],
      registers: [registry],
    });
  }
}

// Recovery conflicts (40001 on a standby) and the replica being away or slow: the primary answers instead.
function replicaUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || isDependencyFailure(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
