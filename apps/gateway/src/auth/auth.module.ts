import { Module } from '@nestjs/common';
import { AdminAuthGuard } from './admin-auth.guard';
import { RequestThrottle } from './request-throttle.service';
import { TokenVerifier } from './token-verifier.service';
import { UserAuthGuard } from './user-auth.guard';

@Module({
  providers: [TokenVerifier, RequestThrottle, UserAuthGuard, AdminAuthGuard],
  exports: [TokenVerifier, RequestThrottle, UserAuthGuard, AdminAuthGuard],
})
export class AuthModule {}
