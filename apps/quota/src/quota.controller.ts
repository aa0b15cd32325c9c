import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import Redis from 'ioredis';
import { QUOTA_PATTERNS, QuotaPingResult } from '@app/shared/contracts';
import { InjectRedis } from '@app/shared/redis';

@Controller()
export class QuotaController {
  constructor(@InjectRedis() private readonly redis: Redis) {}

  /** Answers only when Redis does, so the gateway's readiness reflects quota's. */
  @MessagePattern(QUOTA_PATTERNS.ping)
  async ping(): Promise<QuotaPingResult> {
    await this.redis.ping();
    return { redis: 'up' };
  }
}
