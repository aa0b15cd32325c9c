import { Client } from 'pg';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { uniqueXuid } from '../factories/users.factory';
import { testDatabaseUrl } from '../setup/test-env';

/**
 * The inbox event stream replays by each inbox's delivery sequence
 * (docs/api.md, Inbox events), which is only sound if, within an inbox, the
 * numbers are dense and follow commit order, whatever deliveries race. The
 * delivery statement runs here as the worker runs it, on separate connections.
 */
describe('delivery: the per-inbox delivery sequence', () => {
  const nextId = messageIdFactory();
  const clients: Client[] = [];
  let db: Client;
  let sender: string;

  async function connection(): Promise<Client> {
    const client = new Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    db = await connection();
    sender = uniqueXuid();
    await db.query(`INSERT INTO users (xuid, gamertag) VALUES ($1, $2)`, [sender, `Sq${sender.slice(-10)}`]);
  });

  afterAll(async () => {
    for (const client of clients) await client.end();
  });

  async function recipient(): Promise<string> {
    const xuid = uniqueXuid();
    await db.query(`INSERT INTO users (xuid, gamertag) VALUES ($1, $2)`, [xuid, `Sq${xuid.slice(-10)}`]);
    return xuid;
  }

  async function storeMessage(recipients: string[]): Promise<string> {
    const id = nextId();
    const sent = new Date(sentOfMessageId(id));
    await db.query(
      `INSERT INTO messages (id, sender_xuid, text, recipients, sent, expiration)
       VALUES ($1, $2, 'sequenced', $3::numeric[], $4, $4::timestamptz + interval '1 day')`,
      [id, sender, recipients, sent],
    );
    return id;
  }

  const deliver = (client: Client, ids: string[]) =>
    client.query({ text: DELIVERY_SQL.deliver.text, values: [[...ids].sort()] });

  /** Polls until the connection's statement waits on a lock (a row lock held by another transaction). */
  async function waitUntilBlocked(client: Client): Promise<void> {
    const pid = (client as unknown as { processID: number }).processID;
    for (;;) {
      const { rows } = await db.query<{ wait: string | null }>(
        `SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1`,
        [pid],
      );
      if (rows[0]?.wait === 'Lock') return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function sequencesOf(xuid: string): Promise<{ message_id: string; sequence: string }[]> {
    const { rows } = await db.query<{ message_id: string; sequence: string }>(
      `SELECT message_id, sequence FROM inbox_entries WHERE recipient_xuid = $1 ORDER BY sequence`,
      [xuid],
    );
    return rows;
  }

  it('should number one inbox 1..n without gaps or repeats when 40 deliveries race on 8 connections', async () => {
    const [target, other] = [await recipient(), await recipient()];
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await storeMessage(i % 2 === 0 ? [target, other] : [target]));
    const pool = await Promise.all(Array.from({ length: 8 }, () => connection()));

    await Promise.all(
      pool.map((client, c) =>
        (async () => {
          for (let i = c; i < ids.length; i += pool.length) await deliver(client, [ids[i]]);
        })(),
      ),
    );

    const numbered = await sequencesOf(target);
    expect(numbered.map((row) => Number(row.sequence))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(numbered.map((row) => row.message_id))).toEqual(new Set(ids));
    expect((await sequencesOf(other)).map((row) => Number(row.sequence))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const { rows } = await db.query(
      `SELECT total_items, last_sequence::int AS last FROM inbox_counters WHERE recipient_xuid = $1`,
      [target],
    );
    expect(rows).toEqual([{ total_items: 40, last: 40 }]);
  });

  it('should number a delivery that commits later after one that committed first, though its message is older', async () => {
    const target = await recipient();
    const older = await storeMessage([target]);
    const newer = await storeMessage([target]);
    const [first, second] = [await connection(), await connection()];

    // The newer message's delivery takes the inbox's counter and holds it uncommitted ...
    await first.query('BEGIN');
    await deliver(first, [newer]);
    // ... so the older one's waits on the counter row, and numbers after it.
    const waiting = deliver(second, [older]);
    await waitUntilBlocked(second);
    expect(await sequencesOf(target)).toEqual([]);
    await first.query('COMMIT');
    await waiting;

    expect(await sequencesOf(target)).toEqual([
      { message_id: newer, sequence: '1' },
      { message_id: older, sequence: '2' },
    ]);
  });

  it('should keep numbering after entries are deleted, never reusing a number', async () => {
    const target = await recipient();
    const [a, b] = [await storeMessage([target]), await storeMessage([target])];
    await deliver(db, [a, b]);
    await db.query(`DELETE FROM inbox_entries WHERE recipient_xuid = $1`, [target]);
    await db.query(`UPDATE inbox_counters SET total_items = 0 WHERE recipient_xuid = $1`, [target]);

    const c = await storeMessage([target]);
    await deliver(db, [c]);

    expect(await sequencesOf(target)).toEqual([{ message_id: c, sequence: '3' }]);
  });
});
