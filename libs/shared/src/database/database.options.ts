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
types.setTypeParser(NUMERIC_ARRAY_OID, types.getTypeParser(TEXT_ARRAY_OID));

export function createDataSourceOptions(
  config: Pick<SharedConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>,
): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    // The schema is owned by migrations alone, in tests too.
    synchronize: false,
    migrationsRun: false,
    extra: {
      max: config.DATABASE_POOL_SIZE,
      connectionTimeoutMillis: 5000,
    },
  };
}
