import { DataSource } from 'typeorm';
import { createDataSourceOptions, MIGRATIONS } from '@app/shared/database';
import { testDatabaseUrl } from '../setup/test-env';

describe('database schema', () => {
  let db: DataSource;

  beforeAll(async () => {
    db = await new DataSource(createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 2 })).initialize();
  });

  afterAll(async () => {
    await db?.destroy();
  });

  it('should have applied every migration, in order', async () => {
    const rows: { name: string }[] = await db.query('SELECT name FROM migrations ORDER BY id');
    expect(rows.map((row) => row.name)).toEqual(MIGRATIONS.map((migration) => migration.name));
  });

  it('should match the entities exactly: nothing for TypeORM to synchronize', async () => {
    const pending = await db.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((query) => query.query)).toEqual([]);
  });

  it('should leave room in inbox counter pages, so their updates stay on the page (HOT)', async () => {
    const [row] = await db.query(`SELECT reloptions FROM pg_class WHERE oid = 'inbox_counters'::regclass`);
    expect(row.reloptions).toEqual(['fillfactor=50']);
  });

  it('should keep gamertags unique regardless of case', async () => {
    await db.query(`INSERT INTO users (xuid, gamertag) VALUES (4001, 'CaseTest')`);
    await expect(db.query(`INSERT INTO users (xuid, gamertag) VALUES (4002, 'casetest')`)).rejects.toThrow(
      /users_gamertag_lower_key/,
    );
    await db.query('DELETE FROM users WHERE xuid = 4001');
  });

  it('should refuse XUIDs outside 1..2^64-1 and keep 2^64-1 exact', async () => {
    await expect(db.query(`INSERT INTO users (xuid, gamertag) VALUES (0, 'ZeroXuid')`)).rejects.toThrow(/users_xuid_range/);
    await expect(db.query(`INSERT INTO users (xuid, gamertag) VALUES (18446744073709551616, 'TooBig')`)).rejects.toThrow(
      /users_xuid_range/,
    );
  });
});
