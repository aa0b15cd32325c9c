import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database';
import { Xuid } from '@app/shared/xuid';
import { testDatabaseUrl } from '../setup/test-env';
import { send } from './outbox.factory';
import { TestUser } from './users.factory';

const POLL_MS = 10;

/** One send a test makes: its text is unique, so the stored message can be found by it. */
export interface PlannedSend {
  sender: Xuid;
  recipients: Xuid[];
  text: string;
}

/**
 * POSTs every send, `concurrency` at a time, and fails unless each was accepted
 * the way the contract says: 200 with an empty body.
 */
export async function sendAll(gatewayUrl: string, sends: PlannedSend[], concurrency = 16): Promise<void> {
  let next = 0;
  const refused: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < sends.length) {
      const planned = sends[next++];
      const response = await send(
        gatewayUrl,
        planned.sender,
        planned.recipients.map((xuid) => ({ xuid })),
        {
          text: planned.text,
        },
      );
      if (response.status !== 200 || response.text !== '') refused.push(`${planned.text}: ${response.status} ${response.text}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sends.length) }, worker));
  if (refused.length > 0) throw new Error(`${refused.length} sends were not accepted, e.g. ${refused[0]}`);
}

/**
 * `messages` senders each send to a random `perMessage` of `recipients`
 * (everyone when perMessage = recipients.length), texts "<label> <n>".
 */
export function planSends(
  label: string,
  senders: TestUser[],
  recipients: TestUser[],
  messages: number,
  perMessage: number,
): PlannedSend[] {
  return Array.from({ length: messages }, (_, index) => ({
    sender: senders[index % senders.length].xuid,
    recipients: pick(
      recipients.map((user) => user.xuid),
      perMessage,
    ),
    text: `${label} ${index}`,
  }));
}

/** `count` distinct entries of `items`, in random order. */
function pick<T>(items: T[], count: number): T[] {
  const copy = [...items];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

/** For each recipient, the ids it must end up with: exactly the messages sent to it. */
export function expectedInboxes(sends: PlannedSend[], idByText: Map<string, string>): Map<Xuid, string[]> {
  const inboxes = new Map<Xuid, string[]>();
  for (const planned of sends) {
    const id = idByText.get(planned.text);
    if (id === undefined) throw new Error(`no stored message has the text "${planned.text}"`);
    for (const recipient of planned.recipients) inboxes.set(recipient, [...(inboxes.get(recipient) ?? []), id]);
  }
  for (const ids of inboxes.values()) ids.sort();
  return inboxes;
}

/** Read access to what delivery wrote, for exact assertions on stored rows. */
export class DeliveryRows {
  private constructor(readonly dataSource: DataSource) {}

  /** On the run's database, or on `databaseUrl` (a suite's private one). */
  static async open(databaseUrl = testDatabaseUrl()): Promise<DeliveryRows> {
    const dataSource = new DataSource({
      ...createDataSourceOptions({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 3 }),
      logging: false,
    });
    return new DeliveryRows(await dataSource.initialize());
  }

  close(): Promise<void> {
    return this.dataSource.destroy();
  }

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }

  /** Stored message id by text, for the senders' messages. */
  async idsByText(senders: Xuid[]): Promise<Map<string, string>> {
    const rows = await this.query<{ id: string; text: string }>(
      `SELECT id, text FROM messages WHERE sender_xuid = ANY($1::numeric[])`,
      [senders],
    );
    return new Map(rows.map((row) => [row.text, row.id]));
  }

  /** Ids of the senders' messages, oldest first. */
  async messageIdsOf(senders: Xuid[]): Promise<string[]> {
    const rows = await this.query<{ id: string }>(
      `SELECT id FROM messages WHERE sender_xuid = ANY($1::numeric[]) ORDER BY id`,
      [senders],
    );
    return rows.map((row) => row.id);
  }

  async deliveredCount(ids: string[]): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::varchar[]) AND delivered_at IS NOT NULL`,
      [ids],
    );
    return row.n;
  }

  /** Polls `messages.delivered_at` until every message is delivered; fails after `timeoutMs` saying how many were. */
  async waitDelivered(ids: string[], timeoutMs = 20_000): Promise<void> {
    await this.waitDeliveredAtLeast(ids, ids.length, timeoutMs);
  }

  /** Polls until at least `count` of the messages are delivered; returns how many were when it saw that. */
  async waitDeliveredAtLeast(ids: string[], count: number, timeoutMs = 20_000, pollMs = POLL_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const delivered = await this.deliveredCount(ids);
      if (delivered >= count) return delivered;
      if (Date.now() > deadline)
        throw new Error(`${delivered} of ${ids.length} messages delivered after ${timeoutMs} ms; wanted ${count}`);
      await new Promise((wake) => setTimeout(wake, pollMs));
    }
  }

  /** Each recipient's stored entries (message ids, sorted), with an empty list for those without any. */
  async inboxes(recipients: Xuid[]): Promise<Map<Xuid, string[]>> {
    const rows = await this.query<{ recipient_xuid: Xuid; message_id: string }>(
      `SELECT recipient_xuid, message_id FROM inbox_entries WHERE recipient_xuid = ANY($1::numeric[]) ORDER BY message_id`,
      [recipients],
    );
    const inboxes = new Map<Xuid, string[]>(recipients.map((xuid) => [xuid, []]));
    for (const row of rows) inboxes.get(row.recipient_xuid)!.push(row.message_id);
    return inboxes;
  }

  /** Each recipient's counter row (`null` when it has none). */
  async counters(recipients: Xuid[]): Promise<Map<Xuid, number | null>> {
    const rows = await this.query<{ recipient_xuid: Xuid; total_items: number }>(
      `SELECT recipient_xuid, total_items FROM inbox_counters WHERE recipient_xuid = ANY($1::numeric[])`,
      [recipients],
    );
    const counters = new Map<Xuid, number | null>(recipients.map((xuid) => [xuid, null]));
    for (const row of rows) counters.set(row.recipient_xuid, row.total_items);
    return counters;
  }

  /** Who holds an entry of the message, sorted. */
  async recipientsOf(messageId: string): Promise<Xuid[]> {
    const rows = await this.query<{ recipient_xuid: Xuid }>(
      `SELECT recipient_xuid FROM inbox_entries WHERE message_id = $1 ORDER BY recipient_xuid`,
      [messageId],
    );
    return rows.map((row) => row.recipient_xuid);
  }

  /**
   * Holds a KEY SHARE lock on the messages until the returned function is
   * called. The purge locks what it deletes FOR UPDATE SKIP LOCKED, so no purge
   * (of this suite's worker or any other suite's) touches them meanwhile, while
   * reads, deliveries and delivered_at updates go on. Lets a test look at expired
   * messages before any purge, deterministically.
   */
  async shieldFromPurge(ids: string[]): Promise<() => Promise<void>> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query(`SELECT id FROM messages WHERE id = ANY($1::varchar[]) FOR KEY SHARE`, [ids]);
    return async () => {
      await runner.commitTransaction();
      await runner.release();
    };
  }

  /**
   * Rewrites the inbox entries unchanged (each gets a new row version, at a
   * new address) in a transaction left open, so other calls on them wait for
   * it; the returned function commits.
   */
  async rewriteEntries(recipient: Xuid, ids: string[]): Promise<() => Promise<void>> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query(
      `UPDATE inbox_entries SET is_read = is_read WHERE recipient_xuid = $1 AND message_id = ANY($2::varchar[])`,
      [recipient, ids],
    );
    return async () => {
      await runner.commitTransaction();
      await runner.release();
    };
  }

  /** Makes messages look never delivered, as a crash between write and ack would leave them to a retry. */
  async markUndelivered(ids: string[]): Promise<void> {
    await this.query(`UPDATE messages SET delivered_at = NULL WHERE id = ANY($1::varchar[])`, [ids]);
  }
}

/** Counter values as a map of numbers: what "counters equal entry counts" compares against. */
export function entryCounts(inboxes: Map<Xuid, string[]>): Map<Xuid, number | null> {
  return new Map([...inboxes].map(([xuid, ids]) => [xuid, ids.length === 0 ? null : ids.length]));
}
