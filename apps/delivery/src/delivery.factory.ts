import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { ErrorResponseFilter } from '@app/shared/http';
import { DeliveryConfig } from './delivery.config';
import { DeliveryModule } from './delivery.module';

/** The delivery worker process, with HTTP for health. */
export async function createDeliveryApp(config: DeliveryConfig): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(DeliveryModule.forRoot(config), new FastifyAdapter(), {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new ErrorResponseFilter());
  app.enableShutdownHooks();
  return app;
}
