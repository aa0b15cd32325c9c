import { Module } from '@nestjs/common';
import { DirectoryModule } from '@app/shared/directory';
import { AuthModule } from '../auth/auth.module';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';

@Module({
  imports: [AuthModule, DirectoryModule],
  controllers: [AdminController],
  providers: [AdminService],
})
export class AdminModule {}
