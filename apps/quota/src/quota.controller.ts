import { Controller, UseGuards } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  QUOTA_PATTERNS,
  QuotaConfirmRequest,
  QuotaConfirmResult,
  QuotaLimitsRequest,
  QuotaLimitsResult,
  QuotaPingResult,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
  QuotaUsageRequest,
  QuotaUsageResult,
} from '@app/shared/contracts';
import { InjectRedis, RedisClient } from '@app/shared/redis';
import { QuotaRpcAuthGuard } from './quota-rpc-auth.guard';
import { QuotaMetrics } from './quota.metrics';
import { QuotaService } from './quota.service';

// Every pattern, ping included: a caller without the key learns nothing, not even that Redis is up.
@Controller()
@UseGuards(QuotaRpcAuthGuard)
export class QuotaController {
  constructor(
    private readonly quota: QuotaService,
    private readonly metrics: QuotaMetrics,
    @InjectRedis() private readonly redis: RedisClient,
  ) {}

  @MessagePattern(QUOTA_PATTERNS.reserve)
  async reserve(@Payload() request: QuotaReserveRequest): Promise<QuotaReserveResult> {
    const result = await this.quota.reserve(request);
    this.metrics.record(result);
    return result;
  }

  @MessagePattern(QUOTA_PATTERNS.release)
  release(@Payload() request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    return this.quota.release(request);
  }

  @MessagePattern(QUOTA_PATTERNS.confirm)
  confirm(@Payload() request: QuotaConfirmRequest): Promise<QuotaConfirmResult> {
    return this.quota.confirm(request);
  }

  @MessagePattern(QUOTA_PATTERNS.usage)
  usage(@Payload() request: QuotaUsageRequest): Promise<QuotaUsageResult> {
    return this.quota.usage(request);
  }

  @MessagePattern(QUOTA_PATTERNS.limits)
  limits(@Payload() request: QuotaLimitsRequest): Promise<QuotaLimitsResult> {
    return this.quota.limitsOf(request);
  }

  /** Answers only when Redis does, so the gateway's readiness reflects quota's. */
  @MessagePattern(QUOTA_PATTERNS.ping)
  async ping(): Promise<QuotaPingResult> {
    await this.redis.ping();
    return { redis: 'up' };
  }
}
