import { Injectable } from '@nestjs/common';
import { ReadinessCheck } from '@app/shared/http';
import { QuotaClient } from '../quota/quota.client';

@Injectable()
export class QuotaReadinessCheck implements ReadinessCheck {
  readonly name = 'quota';

  constructor(private readonly quota: QuotaClient) {}

  async check(): Promise<void> {
    await this.quota.ping();
  }
}
