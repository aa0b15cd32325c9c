import { loadConfigFromEnvironment } from '@app/shared/config';
import { runService } from '@app/shared/http';
import { GatewayConfig } from './gateway.config';
import { createGatewayApp } from './gateway.factory';

runService('gateway', async () => {
  const config = loadConfigFromEnvironment(GatewayConfig);
  const app = await createGatewayApp(config);
  await app.listen({ port: config.PORT, host: config.HOST });
});
