import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { Gauge, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { SharedConfig } from '../config';
import { METRICS_REGISTRY } from '../metrics/metrics.module';

/**
 * One reviewed SQL statement with the types of its parameters and rows. The
 * name makes it a server-side prepared statement: Postgres parses and plans it
 * once per connection instead of on every call.
 */
export interface Statement<Params extends readonly unknown[], Row extends object> {
  readonly name: string;
  readonly text: string;
  /** Carries the types only; never set. */
  readonly types?: { params: Params; row: Row };
}

/** Declares a statement; `name` must be unique in the process (it names the prepared statement). */
export function statement<Params extends readonly unknown[], Row extends object = Record<string, never>>(
  name: string,
  text: string,
): Statement<Params, Row> {
  return { name, text };
}

export interface StatementResult<Row> {
  rows: Row[];
  /** Rows inserted, updated or deleted (or returned, for a SELECT). */
  rowCount: number;
}

/** Runs statements: the pool, or one connection inside a transaction. */
export interface Queryable {
  run<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<StatementResult<R>>;
  rows<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<R[]>;
}

/** Runs statements on a pool or one of its connections, named (prepared) or not. */
export class Runner implements Queryable {
  constructor(
    private readonly target: Pool | PoolClient,
    private readonly prepared: boolean,
  ) {}

  async run<P extends readonly unknown[], R extends object>(
    statement: Statement<P, R>,
    params: P,
  ): Promise<StatementResult<R>> {
    const query: QueryConfig = { text: statement.text, values: params as unknown as unknown[] };
    if (this.prepared) query.name = statement.name;
    const result = await this.target.query<R & Record<string, unknown>>(query);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async rows<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<R[]> {
    return (await this.run(statement, params)).rows;
  }
}

/**
 * The hot paths' access to Postgres: typed statements straight on the
 * node-postgres pool that TypeORM owns (one pool per process, its size
 * DATABASE_POOL_SIZE), without an ORM query runner per call.
 */
@Injectable()
export class Database implements Queryable {
  private readonly pool: Pool;
  private readonly prepared: boolean;
  private readonly runner: Runner;

  constructor(dataSource: DataSource, config: SharedConfig, @Optional() @Inject(METRICS_REGISTRY) registry?: Registry) {
    this.pool = (dataSource.driver as unknown as { master: Pool }).master;
    this.prepared = config.DATABASE_PREPARED_STATEMENTS === 'true';
    this.runner = new Runner(this.pool, this.prepared);
    if (registry) this.instrument(registry, config.DATABASE_POOL_SIZE);
  }

  /** The pool as Prometheus sees it, read at scrape time: connections by state, and callers waiting for one. */
  private instrument(registry: Registry, size: number): void {
    const pool = this.pool;
    const connections: Gauge<'state'> = new Gauge({
      name: 'database_pool_connections',
      help: `Postgres connections of this process's pool (at most DATABASE_POOL_SIZE = ${size}), by state`,
      labelNames: ['state'],
      registers: [registry],
      collect() {
        connections.set({ state: 'in-use' }, pool.totalCount - pool.idleCount);
        connections.set({ state: 'idle' }, pool.idleCount);
      },
    });
    const waiting: Gauge = new Gauge({
      name: 'database_pool_waiting',
      help: 'Queries waiting for a free connection of the pool',
      registers: [registry],
      collect() {
        waiting.set(pool.waitingCount);
      },
    });
  }

  run<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<StatementResult<R>> {
    return this.runner.run(statement, params);
  }

  rows<P extends readonly unknown[], R extends object>(statement: Statement<P, R>, params: P): Promise<R[]> {
    return this.runner.rows(statement, params);
  }

  /** Runs `work` in one transaction on one connection; rolls back if it throws. */
  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const result = await work(new Runner(client, this.prepared));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw error;
      }
    } finally {
      // A connection that could not even roll back is discarded, not reused.
      client.release(broken);
    }
  }

  /** Connections in use and callers waiting for one, for metrics. */
  poolState(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }
}
