import { QuotaReservation } from '../contracts';
import { RedisClient } from '../redis/redis-client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Xuid } from '../xuid';

/** What one sender is charged for in the window (see lua/ledger.lua). */
export interface QuotaUsage {
  messages: number;
  recipients: number;
  strangers: number;
  /** Charged provisionally: not yet known to be stored. */
  pending: number;
}

export interface QuotaLimits {
  windowMs: number;
  /** How long a reservation may stay unconfirmed before it lapses. */
  deadlineMs: number;
  messages: number;
  recipients: number;
  strangers: number;
  strangersPerMessage: number;
}

/**
 * The charges now and, per kind, when the oldest send in the window using
 * some of it was accepted (ms; null when none): it frees up a window later.
 */
export interface QuotaUsageDetail {
  messages: number;
  recipients: number;
  strangers: number;
  oldest: { messages: number | null; recipients: number | null; strangers: number | null };
}

/** A reservation's fate, from reserve.lua. */
export type ReserveReply = [1] | [2] | [0, string, number];

/** confirm.lua's answer. */
export enum ConfirmOutcome {
  Confirmed = 1,
  AlreadyConfirmed = 0,
  Recharged = 2,
  Unknown = 3,
  /** The ledger had lost the reservation (a failover); the one given charged it. */
  Restored = 4,
}

type LedgerRedis = RedisClient & {
  quotaReserve(...args: (string | number)[]): Promise<ReserveReply>;
  quotaConfirm(...args: (string | number)[]): Promise<ConfirmOutcome>;
  quotaRelease(...args: (string | number)[]): Promise<0 | 1>;
  quotaUsage(...args: (string | number)[]): Promise<[number, number, number, number]>;
  quotaLimits(...args: (string | number)[]): Promise<[number, number, number, number, number, number]>;
};

const SCRIPTS = {
  quotaReserve: 'reserve.lua',
  quotaConfirm: 'confirm.lua',
  quotaRelease: 'release.lua',
  quotaUsage: 'usage.lua',
  quotaLimits: 'limits.lua',
};
const KEY_NAMES = ['log', 'data', 'sums', 'pending', 'tomb'] as const;

const read = (name: string): string => readFileSync(join(__dirname, 'lua', name), 'utf8');

/**
 * The per-sender quota ledger in Redis: each call one Lua script over the
 * sender's keys, so concurrent calls for one sender never interleave. The
 * quota service reserves and releases; whoever learns that a message is stored
 * (the gateway after its commit, delivery after fanning it out) confirms.
 */
export class QuotaLedger {
  private readonly redis: LedgerRedis;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.redis = redis as LedgerRedis;
    const prelude = read('ledger.lua');
    for (const [command, file] of Object.entries(SCRIPTS)) {
      this.redis.defineCommand(command, { numberOfKeys: KEY_NAMES.length, lua: `${prelude}\n${read(file)}` });
    }
  }

  reserve(
    sender: Xuid,
    messageId: string,
    recipients: number,
    strangers: number,
    now: number,
    limits: QuotaLimits,
  ): Promise<ReserveReply> {
    return this.redis.quotaReserve(
      ...this.keysOf(sender),
      messageId,
      recipients,
      strangers,
      now,
      limits.windowMs,
      limits.deadlineMs,
      limits.messages,
      limits.recipients,
      limits.strangers,
      limits.strangersPerMessage,
    );
  }

  /**
   * The message is stored: its charge stands. With `reserved` (the reservation
   * as made) a ledger that lost the reservation charges it again, if it is
   * still in the window `windowMs`.
   */
  confirm(sender: Xuid, messageId: string, reserved?: QuotaReservation, windowMs?: number): Promise<ConfirmOutcome> {
    if (!reserved || windowMs === undefined) return this.redis.quotaConfirm(...this.keysOf(sender), messageId);
    const { recipients, strangers, sentAt } = reserved;
    return this.redis.quotaConfirm(...this.keysOf(sender), messageId, recipients, strangers, sentAt, windowMs);
  }

  /** Gives the charge back (1 when there was one), leaving a tombstone. */
  async release(sender: Xuid, messageId: string, acceptedAt: number, windowMs: number): Promise<boolean> {
    return (await this.redis.quotaRelease(...this.keysOf(sender), messageId, acceptedAt, windowMs)) === 1;
  }

  async usage(sender: Xuid, now: number, windowMs: number): Promise<QuotaUsage> {
    const [messages, recipients, strangers, pending] = await this.redis.quotaUsage(...this.keysOf(sender), now, windowMs);
    return { messages, recipients, strangers, pending };
  }

  /** What `reserve` would check against now, and when each kind next frees up; charges nothing. */
  async usageDetail(sender: Xuid, now: number, windowMs: number): Promise<QuotaUsageDetail> {
    const [messages, recipients, strangers, oldestMessage, oldestRecipient, oldestStranger] = await this.redis.quotaLimits(
      ...this.keysOf(sender),
      now,
      windowMs,
    );
    const time = (ms: number): number | null => (ms < 0 ? null : ms);
    return {
      messages,
      recipients,
      strangers,
      oldest: { messages: time(oldestMessage), recipients: time(oldestRecipient), strangers: time(oldestStranger) },
    };
  }

  /** One sender's keys share a hash tag, so they live together (and on one cluster slot). */
  keysOf(sender: Xuid): string[] {
    const base = `${this.prefix}:quota:{${sender}}`;
    return KEY_NAMES.map((name) => `${base}:${name}`);
  }
}
