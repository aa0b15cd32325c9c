import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@app/shared/config';
import { HealthModule, RedisReadinessCheck } from '@app/shared/http';
import { LoggingModule } from '@app/shared/logging';
import { MetricsModule } from '@app/shared/metrics';
import { RedisModule } from '@app/shared/redis';
import { QuotaConfig } from './quota.config';
import { QuotaController } from './quota.controller';
import { QuotaMetrics } from './quota.metrics';
import { QuotaService } from './quota.service';

@Module({})
export class QuotaModule {
  static forRoot(config: QuotaConfig): DynamicModule {
    return {
      module: QuotaModule,
      imports: [
        ConfigModule.forRoot(QuotaConfig, config),
        LoggingModule.forRoot(config, 'quota'),
        MetricsModule,
        RedisModule.forRoot(config),
        HealthModule.forRoot({ checks: [RedisReadinessCheck] }),
      ],
      controllers: [QuotaController],
      providers: [QuotaService, QuotaMetrics],
    };
  }
}
