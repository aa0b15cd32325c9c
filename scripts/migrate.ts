/**
 * Runs pending database migrations under an advisory lock (safe to start from
 * several places at once). `npm run migration:run`; in an image:
 * `node dist/scripts/migrate.js`.
 */
import { loadConfigFromEnvironment, SharedConfig } from '@app/shared/config';
import { runMigrations } from '@app/shared/database/migrate';
import { runService } from '@app/shared/http/boot';

runService('migrate', async () => {
  const ran = await runMigrations(loadConfigFromEnvironment(SharedConfig));
  process.stdout.write(ran.length === 0 ? 'migrate: schema is up to date\n' : `migrate: applied ${ran.join(', ')}\n`);
});
