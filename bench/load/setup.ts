/**
 * What both benchmarks (bench/load, bench/purge) do around their runs: build
 * the services when the sources are newer than dist/, and delete a run's
 * Redis keys afterwards.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { ROOT, runCommand } from './processes';

/** Newest modification time under `dir` of files the build reads. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(ts|js|lua|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds when forced, when an entry point is missing, or when a source is newer than the oldest entry point. */
export async function ensureBuild(force: boolean, log: (line: string) => void): Promise<string> {
  const entryPoints = ['gateway', 'quota', 'delivery']
    .map((name) => `dist/apps/${name}/src/main.js`)
    .concat('dist/scripts/migrate.js');
  let reason = force ? '--rebuild' : '';
  if (!reason) {
    try {
      const built = Math.min(...entryPoints.map((file) => statSync(join(ROOT, file)).mtimeMs));
      const sources = Math.max(
        ...['apps', 'libs', 'scripts'].map((dir) => newestSource(join(ROOT, dir))),
        ...['tsconfig.json', 'tsconfig.build.json'].map((file) => statSync(join(ROOT, file)).mtimeMs),
      );
      if (sources > built) reason = 'sources are newer than dist/';
    } catch {
      reason = 'dist/ is missing';
    }
  }
  if (!reason) return 'dist/ is up to date';
  log(`· npm run build (${reason})`);
  await runCommand('npm', ['run', 'build'], process.env);
  return `built (${reason})`;
}

export async function deleteRedisPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
