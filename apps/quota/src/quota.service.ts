import { Injectable, Logger } from '@nestjs/common';
import {
  QuotaConfirmRequest,
  QuotaConfirmResult,
  QuotaLimit,
  QuotaLimitsRequest,
  QuotaLimitsResult,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
  QuotaUsageRequest,
  QuotaUsageResult,
} from '@app/shared/contracts';
import { ConfirmOutcome, QuotaLedger, QuotaLimits } from '@app/shared/quota';
import { InjectRedis, RedisClient } from '@app/shared/redis';
import { QuotaConfig } from './quota.config';

/**
 * The per-sender rolling-window limits (docs/api.md, Limits), kept in
 * Redis and checked and recorded by one Lua script per call, so concurrent
 * sends by one sender can never overshoot. A reservation is provisional until
 * its message is known stored (see QuotaLedger).
 */
@Injectable()
export class QuotaService {
  private readonly logger = new Logger(QuotaService.name);
  private readonly ledger: QuotaLedger;
  private readonly limits: QuotaLimits;

  constructor(
    @InjectRedis() redis: RedisClient,
    private readonly config: QuotaConfig,
  ) {
    this.ledger = new QuotaLedger(redis, config.REDIS_PREFIX);
    this.limits = {
      windowMs: config.QUOTA_WINDOW_SECONDS * 1000,
      deadlineMs: config.QUOTA_PENDING_SECONDS * 1000,
      messages: config.LIMIT_MESSAGES_PER_DAY,
      recipients: config.LIMIT_RECIPIENTS_PER_DAY,
      strangers: config.LIMIT_STRANGERS_PER_DAY,
      strangersPerMessage: config.LIMIT_STRANGERS_PER_MESSAGE,
    };
  }

  async reserve(request: QuotaReserveRequest): Promise<QuotaReserveResult> {
    const reply = await this.ledger.reserve(
      request.senderXuid,
      request.messageId,
      request.recipients,
      request.strangers,
      request.sentAt,
      this.limits,
    );
    if (reply[0] === 1) return { accepted: true };
    if (reply[0] === 2) return { accepted: false, givenUp: true };
    const [, limit, retryAfterMs] = reply as [0, QuotaLimit, number];
    return {
      accepted: false,
      limit,
      max: this.maxOf(limit),
      windowSeconds: this.config.QUOTA_WINDOW_SECONDS,
      // Whole seconds, rounded up: retrying after this many seconds fits; -1 never does.
      retryAfterSeconds: retryAfterMs === -1 ? -1 : Math.max(1, Math.ceil(retryAfterMs / 1000)),
    };
  }

  async release(request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    const released = await this.ledger.release(request.senderXuid, request.messageId, request.sentAt, this.limits.windowMs);
    return { released };
  }

  async confirm(request: QuotaConfirmRequest): Promise<QuotaConfirmResult> {
    const outcomes = await Promise.all(
      request.messages.map((message) =>
        this.ledger.confirm(message.senderXuid, message.messageId, message.reserved, this.limits.windowMs),
      ),
    );
    const restored = outcomes.filter((outcome) => outcome === ConfirmOutcome.Restored).length;
    if (restored > 0) this.logger.warn(`Charged ${restored} stored message(s) whose reservation Redis had lost`);
    return { confirmed: outcomes.filter((outcome) => outcome === ConfirmOutcome.Confirmed).length };
  }

  usage(request: QuotaUsageRequest): Promise<QuotaUsageResult> {
    return this.ledger.usage(request.senderXuid, request.now, this.limits.windowMs);
  }

  /**
   * Each limit against what reserve would count now: the same ledger, trimmed
   * the same way, so a send refused later is refused by these figures. A limit
   * frees up when the oldest send using some of it leaves the window.
   */
  async limitsOf(request: QuotaLimitsRequest): Promise<QuotaLimitsResult> {
    const { windowMs } = this.limits;
    const detail = await this.ledger.usageDetail(request.senderXuid, request.now, windowMs);
    const freeAt = (accepted: number | null): number | null => (accepted === null ? null : accepted + windowMs);
    return {
      windowSeconds: this.config.QUOTA_WINDOW_SECONDS,
      limits: {
        [QuotaLimit.StrangersPerMessage]: { max: this.maxOf(QuotaLimit.StrangersPerMessage), used: 0, nextFreeAt: null },
        [QuotaLimit.MessagesPerWindow]: {
          max: this.maxOf(QuotaLimit.MessagesPerWindow),
          used: detail.messages,
          nextFreeAt: freeAt(detail.oldest.messages),
        },
        [QuotaLimit.RecipientsPerWindow]: {
          max: this.maxOf(QuotaLimit.RecipientsPerWindow),
          used: detail.recipients,
          nextFreeAt: freeAt(detail.oldest.recipients),
        },
        [QuotaLimit.StrangersPerWindow]: {
          max: this.maxOf(QuotaLimit.StrangersPerWindow),
          used: detail.strangers,
          nextFreeAt: freeAt(detail.oldest.strangers),
        },
      },
    };
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
}
