import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database';
import { testDatabaseUrl } from '../setup/test-env';

/**
 * The services' connections plan their prepared statements generically (once
 * per connection); without prepared statements (behind a pooler that cannot
 * keep them) connections are left as Postgres starts them.
 */
describe('database connection options', () => {
  async function planCacheModeWith(prepared: 'true' | 'false'): Promise<string> {
    const dataSource = new DataSource(
      createDataSourceOptions({
        DATABASE_URL: testDatabaseUrl(),
        DATABASE_POOL_SIZE: 1,
        DATABASE_PREPARED_STATEMENTS: prepared,
      }),
    );
    await dataSource.initialize();
    try {
      const [row] = await dataSource.query('SHOW plan_cache_mode');
      return row.plan_cache_mode;
    } finally {
      await dataSource.destroy();
    }
  }

  it('should force generic plans on every connection when statements are prepared', async () => {
    expect(await planCacheModeWith('true')).toBe('force_generic_plan');
  });

  it('should leave the plan cache mode alone when statements are not prepared', async () => {
    expect(await planCacheModeWith('false')).toBe('auto');
  });

  it("should bound every statement and idle transaction by the services' timeout, and leave scripts unbounded", async () => {
    const settings = async (timeout?: number): Promise<Record<string, string>> => {
      const dataSource = new DataSource(
        createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 1 }, timeout),
      );
      await dataSource.initialize();
      try {
        const [row] = await dataSource.query(
          `SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
        );
        return row;
      } finally {
        await dataSource.destroy();
      }
    };

    expect(await settings(1500)).toEqual({ statement: '1500ms', idle: '1500ms' });
    expect(await settings()).toEqual({ statement: '0', idle: '0' });
  });
});
