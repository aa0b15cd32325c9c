import { Injectable } from '@nestjs/common';
import { RedisClient } from '../redis/redis-client';
import { DataSource } from 'typeorm';
import { InjectRedis } from '../redis';
import { ReadinessCheck } from './health.controller';

@Injectable()
export class PostgresReadinessCheck implements ReadinessCheck {
  readonly name = 'postgres';

  constructor(private readonly dataSource: DataSource) {}

  async check(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}

@Injectable()
export class RedisReadinessCheck implements ReadinessCheck {
  readonly name = 'redis';

  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  async check(): Promise<void> {
    await this.redis.ping();
  }
}
