import { loadConfigFromEnvironment } from '@app/shared/config';
import { runService } from '@app/shared/http';
import { QuotaConfig } from './quota.config';
import { createQuotaApp } from './quota.factory';

runService('quota', async () => {
  const config = loadConfigFromEnvironment(QuotaConfig);
  const app = await createQuotaApp(config);
  await app.startAllMicroservices();
  await app.listen({ port: config.QUOTA_HTTP_PORT, host: config.QUOTA_LISTEN_HOST });
});
