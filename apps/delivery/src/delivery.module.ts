import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@app/shared/config';
import { DatabaseModule } from '@app/shared/database';
import { HealthModule, PostgresReadinessCheck, RedisReadinessCheck } from '@app/shared/http';
import { LoggingModule } from '@app/shared/logging';
import { RedisModule } from '@app/shared/redis';
import { DeliveryConfig } from './delivery.config';

@Module({})
export class DeliveryModule {
  static forRoot(config: DeliveryConfig): DynamicModule {
    return {
      module: DeliveryModule,
      imports: [
        ConfigModule.forRoot(DeliveryConfig, config),
        LoggingModule.forRoot(config, 'delivery'),
        DatabaseModule.forRoot(config),
        RedisModule.forRoot(config),
        HealthModule.forRoot({ checks: [PostgresReadinessCheck, RedisReadinessCheck] }),
      ],
    };
  }
}
