import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Postgres and PgBouncer refuse to run as root: as root, the servers the
 * suites start run as the `postgres` OS user (the Debian package's).
 */
export interface OsUser {
  uid: number;
  gid: number;
}

export function serverUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** A fresh temp directory the server user owns. */
export function serverTempDir(prefix: string, user: OsUser | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** The newest installed Postgres server binaries (Debian: /usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(
      'no Postgres server binaries under /usr/lib/postgresql: run scripts/ensure-services (as root it installs them)',
    );
  }
  return join(root, majors[0], 'bin');
}

/** Runs a command (as `user`, when given) to completion; throws with its stderr when it fails. */
export function runAs(user: OsUser | undefined, command: string, args: string[], timeoutMs = 120_000): string {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    cwd: tmpdir(),
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}`;
    throw new Error(`${command} ${args.join(' ')} failed (${why}): ${(result.stderr || result.stdout || '').trim()}`);
  }
  return result.stdout;
}
