import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SharedConfig } from '../config';
import { createDataSourceOptions } from './database.options';
import { Database } from './database.service';

/**
 * The TypeORM DataSource for a service and the {@link Database} over its pool
 * (both global, as TypeORM makes the DataSource: injectable anywhere in the app).
 */
@Module({})
export class DatabaseModule {
  static forRoot(config: SharedConfig): DynamicModule {
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
      providers: [Database],
      exports: [Database],
    };
  }
}
