export * from './redis.module';
export * from './bullmq.options';
export * from './redis-client';
