export * from './error-response.filter';
export * from './health-checks';
export * from './health.controller';
export * from './health.module';
export * from './boot';
