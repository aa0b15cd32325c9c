import { randomBytes } from 'node:crypto';
import { runMigrations } from '@app/shared/database/migrate';
import { withClient, withDatabase } from './postgres-admin';
import { testDatabaseUrl } from './test-env';

export interface PrivateDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A freshly migrated database for one suite alone, beside the run's (global
 * teardown drops it too). For suites whose workers sweep the whole database:
 * a delivery process with a short REDELIVER_AFTER_SECONDS on the run's
 * database would deliver other suites' deliberately undelivered messages.
 */
export async function privateDatabase(label: string): Promise<PrivateDatabase> {
  const runUrl = testDatabaseUrl();
  const name = `${new URL(runUrl).pathname.slice(1)}_${label}_${randomBytes(3).toString('hex')}`;
  const admin = withDatabase(runUrl, 'postgres');
  await withClient(admin, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(runUrl, name);
  await runMigrations({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2 });
  return {
    url,
    drop: () =>
      withClient(admin, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
