import { types } from 'pg';
import { DataSourceOptions } from 'typeorm';
import { SharedConfig } from '../config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

// node-postgres returns numeric as an exact string, but parses the elements of
// numeric[] into JS numbers, which corrupts XUIDs above 2^53: read them as
// strings too, with the text[] parser.
// (Array OIDs are missing from pg's TypeId enum, hence the casts.)
type TypeId = Parameters<typeof types.setTypeParser>[0];
const NUMERIC_ARRAY_OID = 1231 as TypeId;
const TEXT_ARRAY_OID = 1009 as TypeId;
types.setTypeParser(NUMERIC_ARRAY_OID, types.getTypeParser(TEXT_ARRAY_OID) as (value: string) => string[]);

/**
 * With prepared statements, each connection plans them once, generically.
 * Left to itself Postgres plans a statement anew for its parameters on every
 * execution whenever it guesses the generic plan dearer, as it does for the
 * `= ANY($n)` lookups of a send: measured, planning then cost more than
 * running them. Every prepared statement's generic plan is checked to use
 * its indexes (test/integration/query-plans.int-spec.ts); statements that are
 * not prepared (TypeORM's) are planned per call as before.
 */
export const GENERIC_PLANS = '-c plan_cache_mode=force_generic_plan';

type ConnectionSettings = Pick<SharedConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'> &
  Partial<Pick<SharedConfig, 'DATABASE_PREPARED_STATEMENTS' | 'DATABASE_STARTUP_PARAMETERS'>>;

/**
 * node-postgres pool options of a service's connections to `url`: the pool
 * size and, unless DATABASE_STARTUP_PARAMETERS=false (behind PgBouncer, which
 * refuses them), the per-connection settings as startup parameters.
 */
export function poolOptions(config: Omit<ConnectionSettings, 'DATABASE_URL'>, statementTimeoutMs?: number) {
  const startup = config.DATABASE_STARTUP_PARAMETERS !== 'false';
  return {
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: 5000,
    ...(!startup || config.DATABASE_PREPARED_STATEMENTS === 'false' ? {} : { options: GENERIC_PLANS }),
    ...(!startup || statementTimeoutMs === undefined
      ? {}
      : { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: statementTimeoutMs }),
  };
}

/**
 * `statementTimeoutMs`, when given, bounds every statement of the pool's
 * connections and every transaction left idle (the services pass
 * DATABASE_STATEMENT_TIMEOUT_MS; migrations and scripts pass nothing).
 */
export function createDataSourceOptions(config: ConnectionSettings, statementTimeoutMs?: number): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    // The schema is owned by migrations alone, in tests too.
    synchronize: false,
    migrationsRun: false,
    extra: poolOptions(config, statementTimeoutMs),
  };
}
