import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { GatewayConfig } from '../gateway.config';
import { ContinuationTokenCodec } from './continuation-token';
import { InboxController } from './inbox.controller';
import { InboxRepository } from './inbox.repository';
import { InboxService } from './inbox.service';
import { EventIdCodec } from './events/event-id';
import { InboxEventsController } from './events/inbox-events.controller';
import { InboxEventsRepository } from './events/inbox-events.repository';
import { InboxEvents } from './events/inbox-events.service';

@Module({
  imports: [AuthModule],
  // The events route first: its static segment must not be read as a message id (the router prefers it anyway).
  controllers: [InboxEventsController, InboxController],
  providers: [
    InboxService,
    InboxRepository,
    InboxEvents,
    InboxEventsRepository,
    {
      provide: EventIdCodec,
      useFactory: (config: GatewayConfig) => new EventIdCodec(config.pagingTokenKeys),
      inject: [GatewayConfig],
    },
    {
      provide: ContinuationTokenCodec,
      useFactory: (config: GatewayConfig) => new ContinuationTokenCodec(config.pagingTokenKeys),
      inject: [GatewayConfig],
    },
  ],
})
export class InboxModule {}
