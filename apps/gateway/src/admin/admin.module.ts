import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { BROADCAST_QUEUE } from '@app/shared/contracts';
import { DirectoryModule } from '@app/shared/directory';
import { AuthModule } from '../auth/auth.module';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';
import { SystemMessagesController } from './system-messages.controller';
import { SystemMessagesRepository } from './system-messages.repository';
import { SystemMessagesService } from './system-messages.service';

@Module({
  imports: [AuthModule, DirectoryModule, BullModule.registerQueue({ name: BROADCAST_QUEUE })],
  controllers: [AdminController, SystemMessagesController],
  providers: [AdminService, SystemMessagesService, SystemMessagesRepository],
})
export class AdminModule {}
