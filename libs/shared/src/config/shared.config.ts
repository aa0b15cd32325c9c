import { applyDecorators } from '@nestjs/common';
import { IsIn, IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Variables every service reads. Names and defaults: README.md, "Configuration". */
export class SharedConfig {
  @IsIn(NODE_ENVS)
  NODE_ENV: NodeEnv = 'development';

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_URL: string = 'postgres://postgres@127.0.0.1:5432/xblmsg';

  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE: number = 10;

  /**
   * Hot-path statements are named (prepared once per connection). Turn off
   * behind a pooler that cannot keep prepared statements across transactions
   * (PgBouncer before 1.21 in transaction mode).
   */
  @IsIn(['true', 'false'])
  DATABASE_PREPARED_STATEMENTS: 'true' | 'false' = 'true';

  /**
   * Longest a service's statement may run (or wait for a lock) before
   * Postgres cancels it; the request then answers 503 with Retry-After. A
   * transaction left idle this long (a hung process holding locks) is ended
   * too. Migrations and the bulk import run without it.
   */
  @IsInt()
  @Min(100)
  DATABASE_STATEMENT_TIMEOUT_MS: number = 5000;

  /**
   * Each connection opens with its settings (statement_timeout,
   * idle_in_transaction_session_timeout and, with prepared statements,
   * plan_cache_mode) as startup parameters. `false` behind PgBouncer, which
   * refuses unknown startup parameters: the pooler's `connect_query` (or
   * `ALTER ROLE ... SET`) sets them on its server connections instead.
   */
  @IsIn(['true', 'false'])
  DATABASE_STARTUP_PARAMETERS: 'true' | 'false' = 'true';

  /**
   * Where migrations run, when DATABASE_URL is a transaction-mode pooler:
   * the migration lock is a session advisory lock, which needs one server
   * connection for the whole run. Unset: DATABASE_URL.
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_MIGRATION_URL?: string;

  /**
   * A streaming replica for inbox listings (gateway). Unset: every read goes
   * to DATABASE_URL.
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_READ_URL?: string;

  /**
   * A replica further behind the primary than this (or unreachable) is
   * skipped: listings go to the primary until it catches up. Sampled every
   * quarter of this (at least 100 ms, at most 1 s).
   */
  @IsInt()
  @Min(100)
  @Max(600_000)
  DATABASE_READ_MAX_LAG_MS: number = 2000;

  @Matches(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL: string = 'redis://127.0.0.1:6379';

  /**
   * Seeds of a Redis Cluster (`host:port,host:port,…`). Set: every Redis user
   * (quota, queues, pub/sub, throttling) uses ioredis's Cluster client and
   * REDIS_URL gives only credentials and TLS. Unset: one server, REDIS_URL.
   */
  @IsOptional()
  @Matches(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}(,(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5})*$/, {
    message: 'must be comma-separated host:port seeds of a Redis Cluster, e.g. redis-0:6379,redis-1:6379',
  })
  REDIS_CLUSTER_NODES?: string;

  /** Prefix of every Redis key this deployment owns (queues, quota windows). */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be 1..64 letters, digits, "_", "." or "-"' })
  REDIS_PREFIX: string = 'xblmsg';

  get isProduction(): boolean {
    return this.NODE_ENV === 'production';
  }
}

/** A TCP port; 0 lets the OS choose (tests use it). */
export const IsTcpPort = (): PropertyDecorator => applyDecorators(IsInt(), Min(0), Max(65535));

/** A whole number of seconds or items, at least 1. */
export const IsPositiveInt = (max = 2_147_483_647): PropertyDecorator => applyDecorators(IsInt(), Min(1), Max(max));
