import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { ErrorResponseFilter } from '@app/shared/http';
import { requestIdOf } from '@app/shared/logging';
import { instrumentHttp, METRICS_REGISTRY } from '@app/shared/metrics';
import { GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';
import { edgeOptions, registerEdgeHooks } from './http/edge';
import { InternalListener } from './http/internal-listener';
import { BODY_LIMIT_BYTES, registerJsonBodyParser, RejectedBodyPipe } from './http/json-body';
import { setupOpenApi } from './openapi/openapi';

const INTERNAL_LISTENERS = new WeakMap<NestFastifyApplication, InternalListener>();

/** The internal listener of a gateway built by {@link createGatewayApp}, when INTERNAL_LISTENER is on. */
export function internalListenerOf(app: NestFastifyApplication): InternalListener | undefined {
  return INTERNAL_LISTENERS.get(app);
}

/**
 * Builds the gateway exactly as production runs it (main.ts and the e2e
 * suites share this). The internal listener starts at the end of the app's
 * init (in `listen`) and closes with it.
 */
export async function createGatewayApp(config: GatewayConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.TRUST_PROXY === 'true',
    genReqId: requestIdOf,
    ...edgeOptions(),
  });
  const fastify = adapter.getInstance();
  const internal =
    config.INTERNAL_LISTENER === 'true' ? new InternalListener(fastify, config.INTERNAL_HOST, config.INTERNAL_PORT) : undefined;
  registerJsonBodyParser(fastify);
  registerEdgeHooks(fastify, internal);
  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule.forRoot(config, internal), adapter, {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  instrumentHttp(fastify, app.get(METRICS_REGISTRY));
  app.useGlobalFilters(new ErrorResponseFilter());
  app.useGlobalPipes(new RejectedBodyPipe());
  // process.exit, not a re-raised signal, so the logger flushes its last lines (pino-pretty runs in a worker).
  app.enableShutdownHooks([], { useProcessExit: true });
  setupOpenApi(app);
  if (internal) INTERNAL_LISTENERS.set(app, internal);
  return app;
}
