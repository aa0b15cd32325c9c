// npm 11 (11.16 and later) leaves out of package-lock.json the platform-only
// optional packages a registry does not serve, then `npm ci` refuses its own
// lock file as "out of sync" (npm/cli#9846). This adds a placeholder entry for
// each optional dependency the lock file lacks; npm skips them on install, as
// it would any optional package that does not fit the platform.
// Run after every `npm install`: `npm run lockfile:repair`.
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const path = join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const entry of Object.values(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    packages[key] = { version, ...(entry.dev ? { dev: true } : {}), optional: true };
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`lockfile:repair: added ${added} placeholder entries\n`);
