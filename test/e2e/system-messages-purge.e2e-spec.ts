import { MaintenanceService } from '../../apps/delivery/src/maintenance.service';
import { broadcastRequest, BroadcastRows, postSystemMessage, waitForBroadcast } from '../factories/broadcast.factory';
import { cleanupsAfterEach } from '../setup/cleanups';
import { PrivateDatabase, privateDatabase } from '../setup/private-database';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { startDelivery, startStack } from '../setup/services';

const USERS = 50;
const BASE = 2_533_274_950_000_000n;

/**
 * The purge of expired system messages (docs/api.md, Expiry): a broadcast's
 * entries go chunk by chunk with their counters, then its message, broadcast
 * and chunks. A database of its own: the purge sweeps everything expired.
 */
describe('system messages: purge after expiry', () => {
  let database: PrivateDatabase;
  let rows: BroadcastRows;
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    database = await privateDatabase('bcpurge');
    rows = await BroadcastRows.open(database.url);
    await rows.query(
      `INSERT INTO users (xuid, gamertag) SELECT $1::numeric + k, 'Purge' || k FROM generate_series(0, $2::int - 1) AS k`,
      [BASE.toString(), USERS],
    );
  });

  afterAll(async () => {
    await rows?.close();
    await database?.drop();
  });

  it("should delete an expired broadcast's entries, keep the counters exact, then remove its message", async () => {
    const prefix = privateRedisPrefix('bcpurge');
    cleanups.push(() => deleteRedisKeys(prefix));
    const shared = { DATABASE_URL: database.url, REDIS_PREFIX: prefix };
    const stack = await startStack({ gateway: { ...shared, BROADCAST_CHUNK_SIZE: 10 }, quota: { REDIS_PREFIX: prefix } });
    cleanups.push(() => stack.close());
    const delivery = await startDelivery(shared);
    cleanups.push(() => delivery.close());
    const internal = stack.gateway.internalUrl;

    const all = await postSystemMessage(internal, { subject: 'To all', messageText: 'Everyone', recipients: 'all' });
    const list = await postSystemMessage(internal, {
      subject: 'To three',
      messageText: 'Some',
      recipients: [0n, 1n, 2n].map((k) => (BASE + k).toString()),
    });
    const ids = [all.body.id as string, list.body.id as string];
    for (const id of ids) await waitForBroadcast(internal, id, (body) => body.state === 'done');
    const [before] = await rows.query(
      `SELECT (SELECT count(*)::int FROM inbox_entries) AS entries, (SELECT sum(total_items)::int FROM inbox_counters) AS counted`,
    );
    expect(before).toEqual({ entries: USERS + 3, counted: USERS + 3 });

    await rows.query(`UPDATE messages SET expiration = now() - interval '1 second' WHERE id = ANY($1)`, [ids]);
    await rows.query(`UPDATE inbox_entries SET expiration = now() - interval '1 second' WHERE message_id = ANY($1)`, [ids]);
    const purged = await delivery.app.get(MaintenanceService).purge();

    expect(purged).toEqual({ messages: 2, broadcastChunks: 6, entries: USERS + 3, idempotencyKeys: 0, more: false });
    const [after] = await rows.query(
      `SELECT (SELECT count(*)::int FROM inbox_entries) AS entries,
              (SELECT count(*)::int FROM inbox_counters WHERE total_items <> 0) AS counters,
              (SELECT count(*)::int FROM messages) AS messages,
              (SELECT count(*)::int FROM broadcasts) AS broadcasts,
              (SELECT count(*)::int FROM broadcast_chunks) AS chunks`,
    );
    expect(after).toEqual({ entries: 0, counters: 0, messages: 0, broadcasts: 0, chunks: 0 });
    expect((await broadcastRequest(internal, 'GET', ids[0])).status).toBe(404);
  });
});
