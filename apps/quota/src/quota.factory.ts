import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { ErrorResponseFilter } from '@app/shared/http';
import { instrumentHttp, METRICS_REGISTRY } from '@app/shared/metrics';
import { QuotaConfig } from './quota.config';
import { QuotaModule } from './quota.module';

/** The quota service: RPC over TCP for the gateway, plus HTTP for health. */
export async function createQuotaApp(config: QuotaConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter();
  const app = await NestFactory.create<NestFastifyApplication>(QuotaModule.forRoot(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  instrumentHttp(adapter.getInstance(), app.get(METRICS_REGISTRY));
  app.useGlobalFilters(new ErrorResponseFilter());
  app.connectMicroservice<MicroserviceOptions>(
    { transport: Transport.TCP, options: { host: config.QUOTA_LISTEN_HOST, port: config.QUOTA_PORT } },
    { inheritAppConfig: true },
  );
  // process.exit, not a re-raised signal, so the logger flushes its last lines (pino-pretty runs in a worker).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
