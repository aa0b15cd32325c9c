import { DynamicModule, Module, ModuleMetadata, Type } from '@nestjs/common';
import { HealthController, READINESS_CHECKS, ReadinessCheck } from './health.controller';

/** GET /healthz and GET /readyz for a service, with the checks it names. */
@Module({})
export class HealthModule {
  static forRoot(options: {
    checks: Type<ReadinessCheck>[];
    imports?: ModuleMetadata['imports'];
  }): DynamicModule {
    return {
      module: HealthModule,
      imports: options.imports ?? [],
      controllers: [HealthController],
      providers: [
        ...options.checks,
        {
          provide: READINESS_CHECKS,
          useFactory: (...checks: ReadinessCheck[]) => checks,
          inject: options.checks,
        },
      ],
    };
  }
}
