import { DataSource } from 'typeorm';
import { createDataSourceOptions, runMigrations } from '@app/shared/database';
import { MIGRATIONS } from '@app/shared/database/migrations';
import { InboxUnreadCounter1797000000000 } from '@app/shared/database/migrations/1797000000000-InboxUnreadCounter';
import { privateDatabase, PrivateDatabase } from '../setup/private-database';

/**
 * InboxUnreadCounter1797000000000 fills unread_items exactly from the entries
 * already there, and its revert leaves the previous schema. Proved on a
 * private database: migrated, the migration undone, rows written as the
 * previous release writes them (total_items alone), migrated again.
 */
describe('migration InboxUnreadCounter', () => {
  let database: PrivateDatabase;
  let db: DataSource;

  beforeAll(async () => {
    database = await privateDatabase('unread');
    db = await new DataSource(createDataSourceOptions({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: 2 })).initialize();
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  const columns = async (): Promise<string[]> =>
    (
      await db.query(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'inbox_counters' ORDER BY column_name`,
      )
    ).map((row: { column_name: string }) => row.column_name);

  it('should fill unread_items with each inbox unread entries, expired ones included, and revert cleanly', async () => {
    // Undone with the migrations after it, back to the schema the previous release wrote.
    const undo = MIGRATIONS.length - MIGRATIONS.indexOf(InboxUnreadCounter1797000000000);
    for (let i = 0; i < undo; i++) await db.undoLastMigration({ transaction: 'all' });
    expect(await columns()).toEqual(['recipient_xuid', 'total_items']);

    // Three inboxes: mixed, all read, none at all; entries past their expiration count too.
    await db.query(
      `INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, is_read, sender_xuid, sender_gamertag, message_type, summary)
       SELECT r, 'M' || r || '_' || k, now() + CASE WHEN k % 4 = 0 THEN interval '-1 hour' ELSE interval '1 day' END,
              CASE WHEN r = 9002 THEN true ELSE k % 3 = 0 END, 77, 'Sender', 'User', 'hi'
         FROM (VALUES (9001), (9002)) AS v(r), generate_series(1, 10) AS k`,
    );
    await db.query(`INSERT INTO inbox_counters (recipient_xuid, total_items) VALUES (9001, 10), (9002, 10), (9003, 0)`);

    await runMigrations({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: 2 });

    expect(await columns()).toEqual(['last_sequence', 'recipient_xuid', 'total_items', 'unread_items']);
    expect(
      await db.query(
        `SELECT recipient_xuid::text AS xuid, total_items AS total, unread_items AS unread FROM inbox_counters ORDER BY 1`,
      ),
    ).toEqual([
      // k = 1..10, read when k % 3 = 0 (3, 6, 9): 7 unread.
      { xuid: '9001', total: 10, unread: 7 },
      { xuid: '9002', total: 10, unread: 0 },
      { xuid: '9003', total: 0, unread: 0 },
    ]);
    await expect(db.query(`UPDATE inbox_counters SET unread_items = -1 WHERE recipient_xuid = 9003`)).rejects.toThrow(
      /inbox_counters_unread_not_negative/,
    );
  });
});
