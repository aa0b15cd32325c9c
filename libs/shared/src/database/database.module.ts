import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SharedConfig } from '../config';
import { createDataSourceOptions } from './database.options';
import { Database } from './database.service';
import { ReadDatabase } from './read-database';

/**
 * The TypeORM DataSource for a service and the {@link Database} over its pool
 * (both global, as TypeORM makes the DataSource: injectable anywhere in the app).
 * `reads: true` adds the {@link ReadDatabase} (DATABASE_READ_URL's replica,
 * or the primary); the gateway's health module checks it with
 * ReplicaReadinessCheck.
 */
@Module({})
export class DatabaseModule {
  static forRoot(config: SharedConfig, options: { reads?: boolean } = {}): DynamicModule {
    const reads = options.reads ? [ReadDatabase] : [];
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRoot({
          ...createDataSourceOptions(config, config.DATABASE_STATEMENT_TIMEOUT_MS),
          // Give a starting Postgres about 30 s before the process gives up.
          retryAttempts: 10,
          retryDelay: 3000,
        }),
      ],
      global: true,
      providers: [Database, ...reads],
      exports: [Database, ...reads],
    };
  }
}
