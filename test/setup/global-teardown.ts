import Redis from 'ioredis';
import { Client } from 'pg';

/** What globalSetup leaves for globalTeardown (jest runs both in the same process). */
export interface RunState {
  /** URL of the server's maintenance database, used to drop the run's database. */
  adminDatabaseUrl: string;
  databaseName: string;
  redisUrl: string;
  redisPrefix: string;
  /** Started testcontainers, if any; only `stop()` is needed here. */
  containers: Array<{ stop(): Promise<unknown> }>;
}

const STATE_KEY = '__xblmsgTestRun';

export function saveRunState(state: RunState): void {
  (globalThis as Record<string, unknown>)[STATE_KEY] = state;
}

export function takeRunState(): RunState | undefined {
  const state = (globalThis as Record<string, unknown>)[STATE_KEY] as RunState | undefined;
  delete (globalThis as Record<string, unknown>)[STATE_KEY];
  return state;
}

export default async function globalTeardown(): Promise<void> {
  const state = takeRunState();
  if (state) await releaseRun(state);
}

/** Drops the run's database and Redis keys, then stops containers. Also used when setup fails half-way. */
export async function releaseRun(state: RunState): Promise<void> {
  const problems: string[] = [];
  const keep = process.env.KEEP_TEST_DB === '1';
  if (keep) {
    console.log(
      `global-teardown: KEEP_TEST_DB=1, kept database "${state.databaseName}" and Redis keys "${state.redisPrefix}*"` +
        (state.containers.length > 0 ? ' (inside containers that are now stopped)' : ''),
    );
  } else {
    // The run's database, and the private ones suites made beside it (test/setup/private-database.ts).
    const names = await runDatabases(state.adminDatabaseUrl, state.databaseName).catch(() => [state.databaseName]);
    for (const name of names) {
      await dropTestDatabase(state.adminDatabaseUrl, name).catch((err: Error) =>
        problems.push(`drop database ${name}: ${err.message}`),
      );
    }
    await deleteRedisKeys(state.redisUrl, state.redisPrefix).catch((err: Error) =>
      problems.push(`delete Redis keys ${state.redisPrefix}*: ${err.message}`),
    );
  }
  await Promise.all(
    state.containers.map((container) =>
      container.stop().catch((err: Error) => problems.push(`stop container: ${err.message}`)),
    ),
  );
  if (problems.length > 0) throw new Error(`test cleanup failed:\n  ${problems.join('\n  ')}`);
}

/** A run's database (`xblmsg_test_<epoch>_<pid>`) or one of its suites' private ones (`..._<label>_<hex>`). */
export const TEST_DATABASE_NAME = /^xblmsg_test_\d+_\d+(_[a-z0-9]+)*$/;

async function runDatabases(adminDatabaseUrl: string, runDatabase: string): Promise<string[]> {
  const client = new Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '_')`,
      [runDatabase],
    );
    return rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

export async function dropTestDatabase(adminDatabaseUrl: string, name: string): Promise<void> {
  if (!TEST_DATABASE_NAME.test(name)) throw new Error(`refusing to drop non-test database "${name}"`);
  const client = new Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  try {
    const stream = redis.scanStream({ match: `${prefix}*`, count: 1000 });
    for await (const batch of stream as AsyncIterable<string[]>) {
      // "test-1-2*" also matches run "test-1-23"; keep only keys of this run.
      const keys = batch.filter((key) => !/^\d/.test(key.slice(prefix.length)));
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}
