import { DynamicModule, Module, ModuleMetadata, Type } from '@nestjs/common';
import { HealthController, READINESS_CHECKS, ReadinessCheck, ReadinessChecks } from './health.controller';

/**
 * GET /healthz and GET /readyz for a service, with the checks it names:
 * `checks` must answer for the service to be ready; `optional` ones, when
 * down, leave it ready but `degraded`.
 */
@Module({})
export class HealthModule {
  static forRoot(options: {
    checks: Type<ReadinessCheck>[];
    optional?: Type<ReadinessCheck>[];
    imports?: ModuleMetadata['imports'];
  }): DynamicModule {
    const optional = options.optional ?? [];
    return {
      module: HealthModule,
      imports: options.imports ?? [],
      controllers: [HealthController],
      providers: [
        ...options.checks,
        ...optional,
        {
          provide: READINESS_CHECKS,
          useFactory: (...checks: ReadinessCheck[]): ReadinessChecks => ({
            required: checks.slice(0, options.checks.length),
            optional: checks.slice(options.checks.length),
          }),
          inject: [...options.checks, ...optional],
        },
      ],
    };
  }
}
