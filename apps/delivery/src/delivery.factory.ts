import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { ErrorResponseFilter } from '@app/shared/http';
import { instrumentHttp, METRICS_REGISTRY } from '@app/shared/metrics';
import { DeliveryConfig } from './delivery.config';
import { DeliveryModule } from './delivery.module';

/** The delivery worker process, with HTTP for health. */
export async function createDeliveryApp(config: DeliveryConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter();
  const app = await NestFactory.create<NestFastifyApplication>(DeliveryModule.forRoot(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  instrumentHttp(adapter.getInstance(), app.get(METRICS_REGISTRY));
  app.useGlobalFilters(new ErrorResponseFilter());
  // process.exit, not a re-raised signal, so the logger flushes its last lines (pino-pretty runs in a worker).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
