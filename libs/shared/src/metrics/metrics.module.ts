import { Controller, Get, Global, Header, Inject, Module } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** Injects the service's Prometheus registry, to register its own metrics on. */
export const InjectMetrics = (): ParameterDecorator => Inject(METRICS_REGISTRY);

@Controller()
@ApiTags('health')
export class MetricsController {
  constructor(@InjectMetrics() private readonly registry: Registry) {}

  /** Prometheus text exposition of this process's metrics. */
  @Get('metrics')
  @Header('cache-control', 'no-store')
  @ApiOperation({ operationId: 'metrics', summary: 'Prometheus metrics of this process' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'The Prometheus text exposition format.',
    content: { 'text/plain': { schema: { type: 'string', example: '# HELP process_cpu_seconds_total ...' } } },
  })
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * One Prometheus registry per service (so several services in one test
 * process never clash), with Node's default process metrics, served at
 * GET /metrics.
 */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: METRICS_REGISTRY,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        return registry;
      },
    },
  ],
  exports: [METRICS_REGISTRY],
})
export class MetricsModule {}
