import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigModule } from '@app/shared/config';
import { BROADCAST_QUEUE, DELIVERY_QUEUE, MAINTENANCE_QUEUE } from '@app/shared/contracts';
import { DatabaseModule } from '@app/shared/database';
import { HealthModule, PostgresReadinessCheck, RedisReadinessCheck } from '@app/shared/http';
import { LoggingModule } from '@app/shared/logging';
import { MetricsModule } from '@app/shared/metrics';
import { QuotaLedger } from '@app/shared/quota';
import {
  closeWorkerConnection,
  QueueOptions,
  REDIS_CLIENT,
  RedisClient,
  RedisModule,
  workerQueueOptions,
} from '@app/shared/redis';
import { BroadcastProcessor } from './broadcast.processor';
import { BroadcastPacer } from './broadcast.pacer';
import { BroadcastRepository } from './broadcast.repository';
import { DeliveryBatcher } from './delivery.batcher';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';
import { DeliveryProcessor } from './delivery.processor';
import { DeliveryRepository } from './delivery.repository';
import { DeliveryService } from './delivery.service';
import { InboxEventsPublisher } from './inbox-events.publisher';
import { MaintenanceProcessor } from './maintenance.processor';
import { MaintenanceService } from './maintenance.service';

const WORKER_QUEUE_OPTIONS = 'WORKER_QUEUE_OPTIONS';

/** On a cluster the workers share a Cluster client BullMQ does not close: close it after them. */
@Injectable()
class WorkerConnectionShutdown implements OnApplicationShutdown {
  constructor(@Inject(WORKER_QUEUE_OPTIONS) private readonly options: QueueOptions) {}

  async onApplicationShutdown(): Promise<void> {
    await closeWorkerConnection(this.options);
  }
}

@Module({})
export class DeliveryModule {
  static forRoot(config: DeliveryConfig): DynamicModule {
    const queueOptions = workerQueueOptions(config);
    return {
      module: DeliveryModule,
      imports: [
        ConfigModule.forRoot(DeliveryConfig, config),
        LoggingModule.forRoot(config, 'delivery'),
        MetricsModule,
        DatabaseModule.forRoot(config),
        RedisModule.forRoot(config),
        BullModule.forRoot(queueOptions),
        BullModule.registerQueue({ name: DELIVERY_QUEUE }, { name: MAINTENANCE_QUEUE }, { name: BROADCAST_QUEUE }),
        HealthModule.forRoot({ checks: [PostgresReadinessCheck, RedisReadinessCheck] }),
      ],
      providers: [
        { provide: WORKER_QUEUE_OPTIONS, useValue: queueOptions },
        WorkerConnectionShutdown,
        DeliveryProcessor,
        BroadcastProcessor,
        BroadcastRepository,
        BroadcastPacer,
        DeliveryBatcher,
        DeliveryService,
        DeliveryRepository,
        InboxEventsPublisher,
        MaintenanceService,
        MaintenanceProcessor,
        DeliveryMetrics,
        {
          provide: QuotaLedger,
          inject: [REDIS_CLIENT],
          useFactory: (redis: RedisClient) => new QuotaLedger(redis, config.REDIS_PREFIX),
        },
      ],
    };
  }
}
