import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { QuotaReserveResult } from '@app/shared/contracts';
import { InjectMetrics } from '@app/shared/metrics';

@Injectable()
export class QuotaMetrics {
  private readonly decisions: Counter<'outcome' | 'limit'>;

  constructor(@InjectMetrics() registry: Registry) {
    this.decisions = new Counter({
      name: 'quota_decisions_total',
      help: 'Reserve decisions by outcome, and by the limit that refused',
      labelNames: ['outcome', 'limit'],
      registers: [registry],
    });
  }

  record(result: QuotaReserveResult): void {
    if (result.accepted) this.decisions.inc({ outcome: 'accepted', limit: 'none' });
    else if ('givenUp' in result) this.decisions.inc({ outcome: 'given-up', limit: 'none' });
    else this.decisions.inc({ outcome: 'rejected', limit: result.limit });
  }
}
