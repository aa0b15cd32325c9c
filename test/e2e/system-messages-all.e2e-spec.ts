import { Xuid } from '@app/shared/xuid';
import { broadcastRequest, BroadcastRows, postSystemMessage, waitForBroadcast } from '../factories/broadcast.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer } from '../factories/users.factory';
import { cleanupsAfterEach } from '../setup/cleanups';
import { PrivateDatabase, privateDatabase } from '../setup/private-database';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { spawnDelivery } from '../setup/service-process';
import { startDelivery, startStack } from '../setup/services';

const USERS = 20_000;
const BASE = 2_533_274_900_000_000n;
// Small chunks, one at a time per worker: 200 chunks, so a kill lands in the middle.
const CHUNK_SIZE = 100;

/**
 * `"all"` over a directory of 20,000 users (a database of its own, filled
 * with one INSERT), with the delivery process writing it SIGKILLed in the
 * middle and a second one taking over: every user gets the message exactly
 * once, every counter matches its inbox, and a player's message sent while
 * the broadcast runs is delivered before it ends.
 */
describe('system messages: a broadcast to everyone, its worker killed mid-way', () => {
  let database: PrivateDatabase;
  let rows: BroadcastRows;
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    database = await privateDatabase('bcall');
    rows = await BroadcastRows.open(database.url);
    await rows.query(
      `INSERT INTO users (xuid, gamertag, communication)
       SELECT $1::numeric + k, 'All' || k,
              CASE WHEN k % 10 = 3 THEN 'friends' WHEN k % 50 = 7 THEN 'blocked' ELSE 'everyone' END
         FROM generate_series(0, $2::int - 1) AS k`,
      [BASE.toString(), USERS],
    );
    // Someone who blocks the first hundred users: blocks do not stop a system message.
    await rows.query(
      `INSERT INTO blocks (owner_xuid, blocked_xuid) SELECT $1::numeric + 5, $1::numeric + k FROM generate_series(100, 199) AS k`,
      [BASE.toString()],
    );
  });

  afterAll(async () => {
    await rows?.close();
    await database?.drop();
  });

  it('should reach every user exactly once, however the worker died, without holding up user messages', async () => {
    const prefix = privateRedisPrefix('bcall');
    cleanups.push(() => deleteRedisKeys(prefix));
    const shared = { DATABASE_URL: database.url, REDIS_PREFIX: prefix };
    const stack = await startStack({
      gateway: { ...shared, BROADCAST_CHUNK_SIZE: CHUNK_SIZE },
      quota: { REDIS_PREFIX: prefix },
    });
    cleanups.push(() => stack.close());
    const first = await spawnDelivery({ ...shared, BROADCAST_CONCURRENCY: 1 });
    cleanups.push(() => first.stop());
    await first.ready();

    const created = await postSystemMessage(stack.gateway.internalUrl, {
      subject: 'Server news',
      messageText: 'Everyone gets this once.',
      recipients: 'all',
    });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ state: 'queued', recipients: 'all', targeted: USERS, chunks: USERS / CHUNK_SIZE });
    const id = created.body.id as string;

    const midway = await waitForBroadcast(stack.gateway.internalUrl, id, (body) => body.chunksDone >= 5);
    first.signal('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(midway.state).toBe('running');
    expect(midway.chunksDone).toBeLessThan(midway.chunks);

    // Its chunk in flight (if any) is handed on once its lock expires; the rest wait in the queue.
    const second = await startDelivery({ ...shared, BROADCAST_CONCURRENCY: 1 });
    cleanups.push(() => second.close());

    // A player's message while the broadcast runs: its own queue, delivered before the broadcast ends.
    const [sender, recipient] = [(BASE + 11n).toString() as Xuid, (BASE + 12n).toString() as Xuid];
    expect((await send(stack.gateway.url, sender, [{ xuid: recipient }], { text: 'meanwhile' })).status).toBe(200);
    const auth = await bearer(recipient);
    for (;;) {
      const inbox = await request(stack.gateway.url, 'GET', inboxPath(recipient), auth);
      if (inbox.body.results.some((item: any) => item.messageSummary === 'meanwhile')) break;
      await new Promise((wake) => setTimeout(wake, 20));
    }
    const whenUserMessageArrived = await broadcastRequest(stack.gateway.internalUrl, 'GET', id);
    expect(whenUserMessageArrived.body.state).toBe('running');

    const done = await waitForBroadcast(stack.gateway.internalUrl, id, (body) => body.state === 'done', 55_000);
    expect(done).toMatchObject({ state: 'done', targeted: USERS, delivered: USERS, chunksDone: USERS / CHUNK_SIZE });

    const [entries] = await rows.query(
      `SELECT count(*)::int AS n, count(DISTINCT recipient_xuid)::int AS recipients FROM inbox_entries WHERE message_id = $1`,
      [id],
    );
    expect(entries).toEqual({ n: USERS, recipients: USERS });
    const [missing] = await rows.query(
      `SELECT count(*)::int AS n FROM users u
        WHERE NOT EXISTS (SELECT 1 FROM inbox_entries e WHERE e.recipient_xuid = u.xuid AND e.message_id = $1)`,
      [id],
    );
    expect(missing.n).toBe(0);
    const [wrongCounters] = await rows.query(
      `SELECT count(*)::int AS n FROM users u
         LEFT JOIN inbox_counters c ON c.recipient_xuid = u.xuid
        WHERE coalesce(c.total_items, 0) <> (SELECT count(*) FROM inbox_entries e WHERE e.recipient_xuid = u.xuid)`,
    );
    expect(wrongCounters.n).toBe(0);
    const [summaries] = await rows.query(
      `SELECT count(*)::int AS n FROM inbox_entries
        WHERE message_id = $1 AND (summary <> 'Server news' OR message_type <> 'System' OR sender_gamertag <> 'LIVE System')`,
      [id],
    );
    expect(summaries.n).toBe(0);
  });
});
