import { Module } from '@nestjs/common';
import { DirectoryRepository } from './directory.repository';

/** Needs a TypeORM DataSource in scope (the app's DatabaseModule). */
@Module({
  providers: [DirectoryRepository],
  exports: [DirectoryRepository],
})
export class DirectoryModule {}
