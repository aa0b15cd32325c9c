export * from './config.module';
export * from './key-list';
export * from './load-config';
export * from './shared.config';
