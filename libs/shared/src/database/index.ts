export * from './database.module';
export * from './database.options';
export * from './entities';
export * from './migrate';
export * from './migrations';
