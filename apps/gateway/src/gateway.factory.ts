import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { ErrorResponseFilter } from '@app/shared/http';
import { requestIdOf } from '@app/shared/logging';
import { instrumentHttp, METRICS_REGISTRY } from '@app/shared/metrics';
import { GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';
import { edgeOptions, registerEdgeHooks } from './http/edge';
import { BODY_LIMIT_BYTES, registerJsonBodyParser, RejectedBodyPipe } from './http/json-body';
import { setupOpenApi } from './openapi/openapi';

/** Builds the gateway exactly as production runs it (main.ts and the e2e suites share this). */
export async function createGatewayApp(config: GatewayConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.TRUST_PROXY === 'true',
    genReqId: requestIdOf,
    ...edgeOptions(),
  });
  registerJsonBodyParser(adapter.getInstance());
  registerEdgeHooks(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule.forRoot(config), adapter, {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  instrumentHttp(adapter.getInstance(), app.get(METRICS_REGISTRY));
  app.useGlobalFilters(new ErrorResponseFilter());
  app.useGlobalPipes(new RejectedBodyPipe());
  // process.exit, not a re-raised signal, so the logger flushes its last lines (pino-pretty runs in a worker).
  app.enableShutdownHooks([], { useProcessExit: true });
  setupOpenApi(app);
  return app;
}
