import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@app/shared/config';
import { DatabaseModule } from '@app/shared/database';
import { HealthModule, PostgresReadinessCheck, RedisReadinessCheck } from '@app/shared/http';
import { LoggingModule } from '@app/shared/logging';
import { MetricsModule } from '@app/shared/metrics';
import { producerQueueOptions, RedisModule } from '@app/shared/redis';
import { AdminModule } from './admin/admin.module';
import { GatewayConfig } from './gateway.config';
import { QuotaReadinessCheck } from './health/quota-readiness.check';
import { InboxModule } from './inbox/inbox.module';
import { OutboxModule } from './outbox/outbox.module';
import { QuotaClientModule } from './quota/quota-client.module';

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(GatewayConfig, config),
        LoggingModule.forRoot(config, 'gateway'),
        MetricsModule,
        DatabaseModule.forRoot(config),
        RedisModule.forRoot(config),
        BullModule.forRoot(producerQueueOptions(config)),
        HealthModule.forRoot({
          imports: [QuotaClientModule],
          checks: [PostgresReadinessCheck, RedisReadinessCheck, QuotaReadinessCheck],
        }),
        AdminModule,
        InboxModule,
        OutboxModule,
      ],
    };
  }
}
