import { DataSourceOptions } from 'typeorm';
import { SharedConfig } from '../config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

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
