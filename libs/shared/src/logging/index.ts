export * from './logging.module';
export * from './failure-log';
