import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { GatewayConfig } from '../gateway.config';
import { ContinuationTokenCodec } from './continuation-token';
import { InboxController } from './inbox.controller';
import { InboxRepository } from './inbox.repository';
import { InboxService } from './inbox.service';

@Module({
  imports: [AuthModule],
  controllers: [InboxController],
  providers: [
    InboxService,
    InboxRepository,
    {
      provide: ContinuationTokenCodec,
      useFactory: (config: GatewayConfig) => new ContinuationTokenCodec(config.pagingTokenKeys),
      inject: [GatewayConfig],
    },
  ],
})
export class InboxModule {}
