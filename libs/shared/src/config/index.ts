export * from './config.module';
export * from './load-config';
export * from './shared.config';
