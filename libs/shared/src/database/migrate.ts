import { DataSource } from 'typeorm';
import { SharedConfig } from '../config';
import { createDataSourceOptions } from './database.options';

// Any constant: every migrator of this schema takes the same session lock, so
// replicas or parallel `npm start`s never run migrations at the same time.
const MIGRATION_LOCK_KEY = 727_150_001;

/**
 * Runs pending migrations in one transaction under an advisory lock; returns
 * their names. On DATABASE_MIGRATION_URL when set: the lock is held by one
 * session for the whole run, which a transaction-mode pooler cannot give.
 */
export async function runMigrations(
  config: Pick<SharedConfig, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'> &
    Partial<Pick<SharedConfig, 'DATABASE_MIGRATION_URL' | 'DATABASE_STARTUP_PARAMETERS'>>,
): Promise<string[]> {
  const url = config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL;
  const dataSource = new DataSource({ ...createDataSourceOptions({ ...config, DATABASE_URL: url }), logging: false });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const ran = await dataSource.runMigrations({ transaction: 'all' });
      return ran.map((migration) => migration.name);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.release();
    await dataSource.destroy();
  }
}
