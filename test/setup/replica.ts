import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';
import { postgresBin, runAs, serverTempDir, serverUser } from './local-server';
import { withClient } from './postgres-admin';

export interface Replica {
  port: number;
  /** `url` (a database of the primary) on the replica. */
  rewrite(url: string): string;
  /** Stops replaying WAL (it keeps receiving it): the replica falls behind from here. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Resolves once the replica has replayed everything the primary had flushed when called. */
  caughtUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

// Settings a hot standby must have at least as high as its primary's.
const MATCHED = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
];

/**
 * A real streaming replica of the run's Postgres, made with
 * `pg_basebackup -R` into a temp directory and started with `pg_ctl` on a
 * port of its own (as the postgres OS user when running as root). The
 * primary is never restarted or reconfigured: scripts/ensure-services
 * --replication made sure it accepts replication connections.
 */
export async function startReplica(primaryUrl: string): Promise<Replica> {
  const primary = new URL(primaryUrl);
  const user = serverUser();
  const bin = postgresBin();
  const dir = serverTempDir('xblmsg-replica-', user);
  const data = join(dir, 'data');
  const port = await freePort();
  const matched = await withClient(primaryUrl, async (client) => {
    const { rows } = await client.query<{ name: string; setting: string }>(
      'SELECT name, setting FROM pg_settings WHERE name = ANY($1)',
      [MATCHED],
    );
    return rows.map((row) => `${row.name} = ${row.setting}`);
  });
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const admin = url(primary.pathname.slice(1) || 'postgres');
  let started = false;
  try {
    runAs(user, join(bin, 'pg_basebackup'), [
      ...['-h', primary.hostname, '-p', primary.port || '5432', '-U', decodeURIComponent(primary.username) || 'postgres'],
      ...['-D', data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
    ]);
    // Debian keeps the primary's configuration in /etc: the copy has none of its own.
    writeFileSync(
      join(data, 'postgresql.conf'),
      [
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${dir}'`,
        'hot_standby = on',
        'shared_buffers = 16MB',
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        ...matched,
        '',
      ].join('\n'),
    );
    writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    writeFileSync(join(data, 'pg_ident.conf'), '');
    if (user) runAs(undefined, 'chown', ['-R', `${user.uid}:${user.gid}`, data]);
    runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    started = true;
  } catch (error) {
    if (started) runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const onReplica = <T>(work: Parameters<typeof withClient<T>>[1]) => withClient(admin, work);
  return {
    port,
    rewrite(databaseUrl) {
      const parsed = new URL(databaseUrl);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    async pauseReplay() {
      await onReplica(async (client) => {
        await client.query('SELECT pg_wal_replay_pause()');
        for (;;) {
          const { rows } = await client.query<{ state: string }>('SELECT pg_get_wal_replay_pause_state() AS state');
          if (rows[0].state === 'paused') return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      });
    },
    async resumeReplay() {
      await onReplica((client) => client.query('SELECT pg_wal_replay_resume()'));
    },
    async caughtUp(timeoutMs = 15_000) {
      const target = await withClient(primaryUrl, async (client) => {
        const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn');
        return rows[0].lsn;
      });
      const deadline = Date.now() + timeoutMs;
      await onReplica(async (client) => {
        for (;;) {
          const { rows } = await client.query<{ done: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [
            target,
          ]);
          if (rows[0].done) return;
          if (Date.now() > deadline) throw new Error(`replica did not replay up to ${target} in ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      });
    },
    stop() {
      try {
        runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}
