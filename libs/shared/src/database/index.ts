export * from './database.module';
export * from './database.options';
export * from './database.service';
export * from './entities';
export * from './migrate';
export * from './migrations';
export * from './message-id';
