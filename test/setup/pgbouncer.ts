import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './free-port';
import { runAs, serverTempDir, serverUser } from './local-server';

export interface PgBouncer {
  port: number;
  /** `url` (a database of the target server) through the pooler. */
  rewrite(url: string): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per database and user (the services' pools share them). */
  poolSize?: number;
  /** Set on every server connection by `connect_query`, as the services do with startup parameters elsewhere. */
  statementTimeoutMs?: number;
}

function pgbouncerBinary(): string {
  for (const path of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) if (existsSync(path)) return path;
  throw new Error('PgBouncer is not installed: run scripts/ensure-services --pgbouncer (as root it installs it with apt-get)');
}

/** The installed PgBouncer's version, e.g. "1.18.0". */
export function pgbouncerVersion(): string {
  return /PgBouncer (\S+)/.exec(runAs(undefined, pgbouncerBinary(), ['--version']))?.[1] ?? 'unknown';
}

/**
 * A real PgBouncer (the installed package's binary) in transaction pooling
 * mode in front of the server of `targetUrl`, on a port of its own, with a
 * generated ini in a temp directory (run as the postgres OS user when running
 * as root: PgBouncer refuses root). Trusts every local client, like the test
 * server behind it.
 */
export async function startPgBouncer(targetUrl: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const target = new URL(targetUrl);
  const user = serverUser();
  const dir = serverTempDir('xblmsg-pgbouncer-', user);
  const port = await freePort();
  const timeout = options.statementTimeoutMs ?? 5000;
  const connectQuery = `SET statement_timeout = ${timeout}; SET idle_in_transaction_session_timeout = ${timeout}`;
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432} connect_query='${connectQuery}'`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 8}`,
      'max_client_conn = 500',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  const child: ChildProcess = spawn(pgbouncerBinary(), [ini], {
    cwd: dir,
    stdio: 'ignore',
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanUp = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(
      port,
      () => child.exitCode !== null,
      () => readLog(dir),
    );
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    port,
    rewrite(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    stop: cleanUp,
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'pgbouncer.log'), 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

async function listening(port: number, died: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (died() || Date.now() > deadline) throw new Error(`PgBouncer did not listen on ${port}: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
