import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { DELIVERY_QUEUE } from '@app/shared/contracts';
import { DirectoryModule } from '@app/shared/directory';
import { AuthModule } from '../auth/auth.module';
import { QuotaClientModule } from '../quota/quota-client.module';
import { DeliveryQueue } from './delivery.queue';
import { IdempotencyRepository } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';
import { OutboxController } from './outbox.controller';
import { OutboxRepository } from './outbox.repository';
import { OutboxService } from './outbox.service';

@Module({
  imports: [AuthModule, DirectoryModule, QuotaClientModule, BullModule.registerQueue({ name: DELIVERY_QUEUE })],
  controllers: [OutboxController],
  providers: [OutboxService, OutboxRepository, IdempotencyService, IdempotencyRepository, DeliveryQueue],
})
export class OutboxModule {}
