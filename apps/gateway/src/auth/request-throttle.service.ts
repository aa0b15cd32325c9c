import { Injectable, Logger } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { AppError, ErrorDefinition, ERRORS } from '@app/shared/errors';
import { InjectMetrics } from '@app/shared/metrics';
import { InjectRedis, RedisClient } from '@app/shared/redis';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';

/**
 * Counts one request in each window it is given (KEYS, with ARGV their
 * lengths in ms, same order): a window starts at its first request and its
 * count resets when it ends. Answers {count, ms left} per window.
 */
const COUNT_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    left = tonumber(ARGV[i])
  end
  out[#out + 1] = count
  out[#out + 1] = left
end
return out
`;

type ThrottleRedis = RedisClient & { throttleCount(keys: number, ...args: (string | number)[]): Promise<number[]> };

/** The longest a request waits for Redis before it is let through uncounted. */
const REDIS_WAIT_MS = 250;

/** Which limit refused a request: the two per-user windows, or failed authentications per address. */
export type ThrottleType = 'burst' | 'sustain' | 'authentication';

interface Window {
  type: ThrottleType;
  key: string;
  max: number;
  seconds: number;
}

/**
 * Fine-grained rate limiting, as Xbox Live does it: per calling user a burst
 * and a sustain limit counted at once (a refused request still counts, so a
 * client that keeps hammering stays refused until its window ends), and per
 * client address a limit on failed authentications. The counts live in Redis,
 * so every gateway replica shares them; one script call per request. Without
 * Redis (or past {@link REDIS_WAIT_MS}) requests go through uncounted: the
 * throttle protects the service, it must not take reads down with Redis.
 */
@Injectable()
export class RequestThrottle {
  private readonly logger = new Logger(RequestThrottle.name);
  private readonly redis: ThrottleRedis;
  private readonly decisions: Counter<'limit' | 'outcome'>;
  private unavailableSince?: number;

  constructor(
    private readonly config: GatewayConfig,
    @InjectRedis() redis: RedisClient,
    @InjectMetrics() registry: Registry,
  ) {
    if (!('throttleCount' in redis)) redis.defineCommand('throttleCount', { lua: COUNT_SCRIPT });
    this.redis = redis as ThrottleRedis;
    this.decisions = new Counter({
      name: 'gateway_throttle_decisions_total',
      help: 'Throttle decisions by limit (user, authentication) and outcome (allowed, throttled, uncounted: RedisClient unavailable)',
      labelNames: ['limit', 'outcome'],
      registers: [registry],
    });
  }

  /** Counts a request of an authenticated user; 429 (1011) past the burst or sustain limit. */
  async countRequest(xuid: Xuid): Promise<void> {
    const user = `${this.config.REDIS_PREFIX}:throttle:{${xuid}}`;
    const windows: Window[] = [
      {
        type: 'burst',
        key: `${user}:burst`,
        max: this.config.THROTTLE_BURST_REQUESTS,
        seconds: this.config.THROTTLE_BURST_SECONDS,
      },
      {
        type: 'sustain',
        key: `${user}:sustain`,
        max: this.config.THROTTLE_SUSTAIN_REQUESTS,
        seconds: this.config.THROTTLE_SUSTAIN_SECONDS,
      },
    ];
    await this.count('user', windows, ERRORS.REQUESTS_THROTTLED, 'this user');
  }

  /** Counts a failed authentication from `address`; 429 (2006) past the limit. */
  async countFailedAuthentication(address: string): Promise<void> {
    const window: Window = {
      type: 'authentication',
      key: `${this.config.REDIS_PREFIX}:throttle:{address:${address}}:failed-auth`,
      max: this.config.THROTTLE_FAILED_AUTH_REQUESTS,
      seconds: this.config.THROTTLE_FAILED_AUTH_SECONDS,
    };
    await this.count('authentication', [window], ERRORS.AUTHENTICATION_THROTTLED, 'this address');
  }

  private async count(limit: string, all: Window[], error: ErrorDefinition, whose: string): Promise<void> {
    const windows = all.filter((window) => window.max > 0);
    if (windows.length === 0) return;
    const counts = await this.counted(windows);
    if (counts === undefined) {
      this.decisions.inc({ limit, outcome: 'uncounted' });
      return;
    }
    // Past more than one limit: name the one that keeps the caller waiting longest.
    let refusal: { window: Window; count: number; leftMs: number } | undefined;
    windows.forEach((window, index) => {
      const [count, leftMs] = [counts[2 * index], counts[2 * index + 1]];
      if (count > window.max && (refusal === undefined || leftMs > refusal.leftMs)) refusal = { window, count, leftMs };
    });
    if (refusal === undefined) {
      this.decisions.inc({ limit, outcome: 'allowed' });
      return;
    }
    this.decisions.inc({ limit, outcome: 'throttled' });
    const { window, count, leftMs } = refusal;
    const retryAfter = Math.max(1, Math.ceil(leftMs / 1000));
    const what = window.type === 'authentication' ? 'failed authentications' : 'requests';
    throw new AppError(
      error,
      `Too many ${what} from ${whose}: ${count} in ${window.seconds} s, the ${window.type} limit is ${window.max}. ` +
        `Retry after ${retryAfter} s.`,
      retryAfter,
      { version: 1, type: window.type, currentRequests: count, maxRequests: window.max, periodInSeconds: window.seconds },
    );
  }

  /** The script's answer, or undefined when Redis does not give one in time. */
  private async counted(windows: Window[]): Promise<number[] | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), REDIS_WAIT_MS)));
    try {
      const call = this.redis.throttleCount(
        windows.length,
        ...windows.map((window) => window.key),
        ...windows.map((window) => window.seconds * 1000),
      );
      const counts = await Promise.race([call.catch(() => undefined), late]);
      this.noteAvailability(counts !== undefined);
      return counts;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One line when counting stops and one when it resumes, not one per request. */
  private noteAvailability(available: boolean): void {
    if (!available && this.unavailableSince === undefined) {
      this.unavailableSince = Date.now();
      this.logger.warn('Request throttling paused: RedisClient did not answer; requests go through uncounted');
    } else if (available && this.unavailableSince !== undefined) {
      this.logger.log(`Request throttling resumed after ${Date.now() - this.unavailableSince} ms`);
      this.unavailableSince = undefined;
    }
  }
}
