import { DataSource } from 'typeorm';
import { loadConfigFromEnvironment, SharedConfig } from '../config';
import { createDataSourceOptions } from './database.options';

/** For the TypeORM CLI (`npm run migration:generate`); services build their own. */
const config = loadConfigFromEnvironment(SharedConfig);
// Migrations need a session of their own: the direct URL when DATABASE_URL is a transaction-mode pooler.
export default new DataSource(
  createDataSourceOptions({ ...config, DATABASE_URL: config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL }),
);
