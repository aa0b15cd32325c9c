import { Injectable, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  QuotaLimit,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
} from '@app/shared/contracts';
import { InjectRedis } from '@app/shared/redis';
import { QuotaConfig } from './quota.config';

type QuotaRedis = Redis & {
  quotaReserve(...args: (string | number)[]): Promise<[0 | 1, string?, number?]>;
  quotaRelease(...args: string[]): Promise<0 | 1>;
};

const loadScript = (name: string): string => readFileSync(join(__dirname, 'lua', name), 'utf8');

/**
 * The per-sender rolling-window limits (CONTRACT section 2, "Limits"), kept in
 * Redis and checked and recorded by one Lua script per call, so concurrent
 * sends by one sender can never overshoot.
 */
@Injectable()
export class QuotaService implements OnModuleInit {
  private readonly redis: QuotaRedis;

  constructor(
    @InjectRedis() redis: Redis,
    private readonly config: QuotaConfig,
  ) {
    this.redis = redis as QuotaRedis;
  }

  onModuleInit(): void {
    this.redis.defineCommand('quotaReserve', { numberOfKeys: 3, lua: loadScript('reserve-3.lua') });
    this.redis.defineCommand('quotaRelease', { numberOfKeys: 3, lua: loadScript('release-3.lua') });
  }

  async reserve(request: QuotaReserveRequest): Promise<QuotaReserveResult> {
    const { config } = this;
    const [accepted, limit, retryAfterMs] = await this.redis.quotaReserve(
      ...this.keysOf(request.senderXuid),
      request.messageId,
      request.recipients,
      request.strangers,
      config.QUOTA_WINDOW_SECONDS * 1000,
      config.LIMIT_MESSAGES_PER_DAY,
      config.LIMIT_RECIPIENTS_PER_DAY,
      config.LIMIT_STRANGERS_PER_DAY,
      config.LIMIT_STRANGERS_PER_MESSAGE,
    );
    if (accepted === 1) return { accepted: true };
    return {
      accepted: false,
      limit: limit as QuotaLimit,
      max: this.maxOf(limit as QuotaLimit),
      windowSeconds: config.QUOTA_WINDOW_SECONDS,
      // Whole seconds, rounded up: retrying after this many seconds fits; -1 never does.
      retryAfterSeconds: retryAfterMs === -1 ? -1 : Math.max(1, Math.ceil((retryAfterMs ?? 0) / 1000)),
    };
  }

  async release(request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    const released = await this.redis.quotaRelease(...this.keysOf(request.senderXuid), request.messageId);
    return { released: released === 1 };
  }

  private maxOf(limit: QuotaLimit): number {
    const { config } = this;
    switch (limit) {
      case QuotaLimit.StrangersPerMessage:
        return config.LIMIT_STRANGERS_PER_MESSAGE;
      case QuotaLimit.MessagesPerWindow:
        return config.LIMIT_MESSAGES_PER_DAY;
      case QuotaLimit.RecipientsPerWindow:
        return config.LIMIT_RECIPIENTS_PER_DAY;
      case QuotaLimit.StrangersPerWindow:
        return config.LIMIT_STRANGERS_PER_DAY;
    }
  }

  /** One sender's keys share a hash tag, so they live together (and on one cluster slot). */
  private keysOf(senderXuid: string): [string, string, string] {
    const base = `${this.config.REDIS_PREFIX}:quota:{${senderXuid}}`;
    return [`${base}:log`, `${base}:data`, `${base}:sums`];
  }
}
