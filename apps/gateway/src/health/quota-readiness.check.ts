import { Injectable } from '@nestjs/common';
import { ReadinessCheck, ReadinessFailure } from '@app/shared/http';
import { QuotaUnavailableError } from '../quota/quota-failure';
import { QuotaClient } from '../quota/quota.client';

/** Quota answers an authenticated ping; /readyz says why not (unreachable, slow, credentials refused). */
@Injectable()
export class QuotaReadinessCheck implements ReadinessCheck {
  readonly name = 'quota';

  constructor(private readonly quota: QuotaClient) {}

  async check(): Promise<void> {
    try {
      await this.quota.ping();
    } catch (error) {
      throw error instanceof QuotaUnavailableError ? new ReadinessFailure(error.reason) : error;
    }
  }
}
