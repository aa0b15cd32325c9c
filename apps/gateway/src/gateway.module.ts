import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@app/shared/config';
import { DatabaseModule, ReplicaReadinessCheck } from '@app/shared/database';
import { HealthModule, PostgresReadinessCheck, RedisReadinessCheck } from '@app/shared/http';
import { LoggingModule } from '@app/shared/logging';
import { MetricsModule } from '@app/shared/metrics';
import { producerQueueOptions, REDIS_CLIENT, RedisModule, RedisClient } from '@app/shared/redis';
import { AdminModule } from './admin/admin.module';
import { GatewayConfig } from './gateway.config';
import { QuotaReadinessCheck } from './health/quota-readiness.check';
import { InternalListener } from './http/internal-listener';
import { InboxModule } from './inbox/inbox.module';
import { OutboxModule } from './outbox/outbox.module';
import { QuotaClientModule } from './quota/quota-client.module';

@Module({})
export class GatewayModule {
  /** `internal`: the listener for /admin, /metrics and /docs (its lifecycle follows the app's). */
  static forRoot(config: GatewayConfig, internal?: InternalListener): DynamicModule {
    return {
      module: GatewayModule,
      providers: internal ? [{ provide: InternalListener, useValue: internal }] : [],
      imports: [
        ConfigModule.forRoot(GatewayConfig, config),
        LoggingModule.forRoot(config, 'gateway'),
        MetricsModule,
        DatabaseModule.forRoot(config, { reads: true }),
        RedisModule.forRoot(config),
        BullModule.forRootAsync({
          inject: [REDIS_CLIENT],
          useFactory: (redis: RedisClient) => producerQueueOptions(config, redis),
        }),
        HealthModule.forRoot({
          imports: [QuotaClientModule],
          // Reads need only Postgres: without Redis or quota the gateway still
          // serves inboxes (sends answer 503), so it stays in the load balancer.
          // A replica that is down or lagging only sends listings to the primary.
          checks: [PostgresReadinessCheck],
          optional: [
            RedisReadinessCheck,
            QuotaReadinessCheck,
            ...(config.DATABASE_READ_URL === undefined ? [] : [ReplicaReadinessCheck]),
          ],
        }),
        AdminModule,
        InboxModule,
        OutboxModule,
      ],
    };
  }
}
