import { loadConfigFromEnvironment } from '@app/shared/config';
import { runService } from '@app/shared/http';
import { DeliveryConfig } from './delivery.config';
import { createDeliveryApp } from './delivery.factory';

runService('delivery', async () => {
  const config = loadConfigFromEnvironment(DeliveryConfig);
  const app = await createDeliveryApp(config);
  await app.listen({ port: config.DELIVERY_HTTP_PORT, host: config.DELIVERY_HTTP_HOST });
});
