export * from './redis.module';
export * from './bullmq.options';
