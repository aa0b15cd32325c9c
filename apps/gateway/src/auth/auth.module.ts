import { Module } from '@nestjs/common';
import { AdminAuthGuard } from './admin-auth.guard';
import { TokenVerifier } from './token-verifier.service';
import { UserAuthGuard } from './user-auth.guard';

@Module({
  providers: [TokenVerifier, UserAuthGuard, AdminAuthGuard],
  exports: [TokenVerifier, UserAuthGuard, AdminAuthGuard],
})
export class AuthModule {}
