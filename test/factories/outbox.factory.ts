import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database';
import { Xuid } from '@app/shared/xuid';
import { testDatabaseUrl, testRedisUrl } from '../setup/test-env';
import { bearer } from './users.factory';

export type Recipient = { xuid: string | number } | { gamertag: string } | Record<string, unknown>;

export interface SendResponse {
  status: number;
  headers: Headers;
  /** The raw body: empty on 200. */
  text: string;
  /** Parsed JSON, or undefined for an empty body. */
  body: any;
}

export const outboxPath = (xuid: string): string => `/users/xuid(${xuid})/outbox`;

/** A send body as the contract shows it. */
export const sendBody = (recipients: Recipient[], messageText = 'hello there'): object => ({
  header: { recipients },
  messageText,
});

/**
 * POST outbox with a raw body (a string is sent as written, so bare JSON
 * numbers above 2^53 and escapes such as "\ud800" reach the server untouched).
 */
export async function postOutbox(
  baseUrl: string,
  path: string,
  body: string | Uint8Array | undefined,
  headers: Record<string, string>,
): Promise<SendResponse> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/** One well-formed send by `sender` (a gold token of their own) as JSON. */
export async function send(
  baseUrl: string,
  sender: Xuid,
  recipients: Recipient[],
  options: { text?: string; headers?: Record<string, string> } = {},
): Promise<SendResponse> {
  return postOutbox(baseUrl, outboxPath(sender), JSON.stringify(sendBody(recipients, options.text)), {
    ...(await bearer(sender)),
    'content-type': 'application/json',
    ...options.headers,
  });
}

export interface StoredMessage {
  id: string;
  sender_xuid: string;
  recipients: string[];
  text: string;
  sent: Date;
  expiration: Date;
  delivered_at: Date | null;
  request_id: string | null;
  /** expiration - sent, in milliseconds. */
  lifetime_ms: number;
}

/** Read access to the run's database for assertions on stored rows. */
export class OutboxRows {
  private constructor(readonly dataSource: DataSource) {}

  static async open(): Promise<OutboxRows> {
    const dataSource = new DataSource({
      ...createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 2 }),
      logging: false,
    });
    return new OutboxRows(await dataSource.initialize());
  }

  close(): Promise<void> {
    return this.dataSource.destroy();
  }

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }

  /** The sender's messages, oldest first (ids sort by time). */
  async messagesOf(sender: string): Promise<StoredMessage[]> {
    const rows: StoredMessage[] = await this.query(
      `SELECT id, sender_xuid, recipients::text[] AS recipients, text, sent, expiration, delivered_at, request_id,
              (extract(epoch FROM expiration - sent) * 1000)::int8 AS lifetime_ms
         FROM messages WHERE sender_xuid = $1 ORDER BY id`,
      [sender],
    );
    return rows.map((row) => ({ ...row, lifetime_ms: Number(row.lifetime_ms) }));
  }

  async countOf(sender: string): Promise<number> {
    const [row] = await this.query<{ count: string }>(`SELECT count(*) AS count FROM messages WHERE sender_xuid = $1`, [
      sender,
    ]);
    return Number(row.count);
  }
}

export interface QuotaUsage {
  messages: number;
  recipients: number;
  strangers: number;
}

/** Read access to one quota namespace's per-sender keys (`<prefix>:quota:{<xuid>}:log|data|sums`). */
export class QuotaKeys {
  readonly redis: Redis;

  constructor(readonly prefix: string) {
    this.redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  }

  keysOf(sender: string): { log: string; data: string; sums: string } {
    const base = this.baseOf(sender);
    return { log: `${base}:log`, data: `${base}:data`, sums: `${base}:sums` };
  }

  /** What the sender is charged for in the window, as of the last reserve. */
  async usage(sender: string): Promise<QuotaUsage> {
    const sums = await this.redis.hgetall(this.keysOf(sender).sums);
    return {
      messages: Number(sums.messages ?? 0),
      recipients: Number(sums.recipients ?? 0),
      strangers: Number(sums.strangers ?? 0),
    };
  }

  /** Members of the sender's log and data hash: one per accepted message still in the window. */
  async logSize(sender: string): Promise<{ log: number; data: number }> {
    const keys = this.keysOf(sender);
    return { log: await this.redis.zcard(keys.log), data: await this.redis.hlen(keys.data) };
  }

  /** PTTL of each key (-2 when absent, -1 when it has no expiry). */
  async ttls(sender: string): Promise<number[]> {
    const keys = this.keysOf(sender);
    return Promise.all([keys.log, keys.data, keys.sums].map((key) => this.redis.pttl(key)));
  }

  /** Deletes the sender's whole ledger, as a Redis failover loses writes the dead master never replicated. */
  async forget(sender: string): Promise<void> {
    const base = this.baseOf(sender);
    await this.redis.del(...['log', 'data', 'sums', 'pending', 'tomb'].map((key) => `${base}:${key}`));
  }

  private baseOf(sender: string): string {
    return `${this.prefix}:quota:{${sender}}`;
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
