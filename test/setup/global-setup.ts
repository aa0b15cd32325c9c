import { spawnSync } from 'child_process';
import { existsSync } from 'fs';
import { connect } from 'net';
import { homedir, userInfo } from 'os';
import { join, resolve } from 'path';
// Relative, not '@app/shared/...': jest's moduleNameMapper does not apply to globalSetup.
import { runMigrations } from '../../libs/shared/src/database/migrate';
import { dropTestDatabase, releaseRun, RunState, saveRunState } from './global-teardown';
import { withClient, withDatabase } from './postgres-admin';

const ROOT = resolve(__dirname, '../..');
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/xblmsg';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const STALE_AFTER_SECONDS = 6 * 3600;

type Services = Pick<RunState, 'redisUrl' | 'containers'> & { databaseUrl: string };

/**
 * Gives the integration suites one fresh, migrated database and a private Redis
 * key prefix: in containers when a Docker engine answers, else on the local
 * services that scripts/ensure-services provides.
 */
export default async function globalSetup(): Promise<void> {
  const epoch = Math.floor(Date.now() / 1000);
  const services = (await startContainers()) ?? useLocalServices();
  const state: RunState = {
    adminDatabaseUrl: withDatabase(services.databaseUrl, 'postgres'),
    databaseName: `xblmsg_test_${epoch}_${process.pid}`,
    redisUrl: services.redisUrl,
    redisPrefix: `test-${epoch}-${process.pid}`,
    containers: services.containers,
  };
  const databaseUrl = withDatabase(services.databaseUrl, state.databaseName);
  try {
    await dropStaleDatabases(state.adminDatabaseUrl, epoch);
    await withClient(state.adminDatabaseUrl, (client) => client.query(`CREATE DATABASE "${state.databaseName}"`));
    await runMigrations({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 });
  } catch (err) {
    // jest skips globalTeardown when globalSetup throws.
    await releaseRun(state).catch(() => undefined);
    throw err;
  }
  saveRunState(state);

  // Read by test/setup/test-env.ts and by the apps' config in the workers.
  process.env.DATABASE_URL = databaseUrl;
  process.env.REDIS_URL = state.redisUrl;
  process.env.REDIS_PREFIX = state.redisPrefix;
  process.env.NODE_ENV = 'test';
  process.env.LOG_LEVEL ??= 'silent';
}

async function startContainers(): Promise<Services | undefined> {
  if (!(await dockerEngineLikely())) return undefined;
  try {
    // Loaded lazily: only needed (and only loadable everywhere) when Docker is there.
    const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
    await withTimeout(getContainerRuntimeClient(), 15_000, 'Docker engine did not answer');
    const [postgres, redis] = await Promise.all([
      new GenericContainer('postgres:15-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        // The entrypoint restarts the server once after init, hence twice.
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start(),
      new GenericContainer('redis:7-alpine')
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
        .start(),
    ]);
    return {
      databaseUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
      redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
      containers: [postgres, redis],
    };
  } catch (err) {
    // Containers still starting are removed by testcontainers' reaper when jest exits.
    console.warn(`global-setup: Docker found but not usable (${(err as Error).message}); using local services`);
    return undefined;
  }
}

/** Cheap check first, so that deciding "no Docker" takes milliseconds. */
async function dockerEngineLikely(): Promise<boolean> {
  if (process.env.DOCKER_HOST || process.platform === 'win32') return true;
  if (existsSync(join(homedir(), '.testcontainers.properties'))) return true;
  const sockets = [
    '/var/run/docker.sock',
    process.env.XDG_RUNTIME_DIR && join(process.env.XDG_RUNTIME_DIR, 'docker.sock'),
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    `/run/user/${userInfo().uid}/docker.sock`,
  ].filter((path): path is string => !!path && existsSync(path));
  const answers = await Promise.all(sockets.map(socketAnswers));
  return answers.includes(true);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ path, timeout: 500 });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
    socket.once('timeout', () => finish(false));
  });
}

function useLocalServices(): Services {
  const result = spawnSync('bash', [join(ROOT, 'scripts', 'ensure-services'), '--pgbouncer', '--replication'], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    throw new Error(`scripts/ensure-services failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
  }
  return {
    databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    containers: [],
  };
}

/** Best effort: databases of runs that crashed or were killed before their teardown. */
async function dropStaleDatabases(adminDatabaseUrl: string, now: number): Promise<void> {
  const stale = await withClient(adminDatabaseUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname ~ '^xblmsg_test_[0-9]+_[0-9]+(_[a-z0-9]+)*$'`,
    );
    return rows.map((row) => row.datname).filter((name) => Number(name.split('_')[2]) < now - STALE_AFTER_SECONDS);
  }).catch(() => [] as string[]);
  for (const name of stale) {
    await dropTestDatabase(adminDatabaseUrl, name).catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
