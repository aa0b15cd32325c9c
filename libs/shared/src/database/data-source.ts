import { DataSource } from 'typeorm';
import { loadConfigFromEnvironment, SharedConfig } from '../config';
import { createDataSourceOptions } from './database.options';

/** For the TypeORM CLI (`npm run migration:generate`); services build their own. */
export default new DataSource(createDataSourceOptions(loadConfigFromEnvironment(SharedConfig)));
