import { Module } from '@nestjs/common';
import { ClientsModule, Transport } from '@nestjs/microservices';
import { GatewayConfig } from '../gateway.config';
import { GatewayMetrics } from '../gateway.metrics';
import { QUOTA_RPC, QuotaClient } from './quota.client';

@Module({
  imports: [
    ClientsModule.registerAsync([
      {
        name: QUOTA_RPC,
        inject: [GatewayConfig],
        useFactory: (config: GatewayConfig) => ({
          transport: Transport.TCP,
          options: { host: config.QUOTA_HOST, port: config.QUOTA_PORT },
        }),
      },
    ]),
  ],
  providers: [QuotaClient, GatewayMetrics],
  exports: [QuotaClient, GatewayMetrics],
})
export class QuotaClientModule {}
