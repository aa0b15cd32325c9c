import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { QuotaReserveResult } from '@app/shared/contracts';
import { InjectMetrics } from '@app/shared/metrics';
import { QuotaRpcRefusal } from '@app/shared/quota';

@Injectable()
export class QuotaMetrics {
  private readonly decisions: Counter<'outcome' | 'limit'>;
  private readonly refusals: Counter<'reason'>;

  constructor(@InjectMetrics() registry: Registry) {
    this.decisions = new Counter({
      name: 'quota_decisions_total',
      help: 'Reserve decisions by outcome, and by the limit that refused',
      labelNames: ['outcome', 'limit'],
      registers: [registry],
    });
    this.refusals = new Counter({
      name: 'quota_rpc_refused_total',
      help: 'RPC calls refused for their credential, before any work, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Every reason from the start at 0, so an alert on increase() sees the first refusal.
    for (const reason of Object.values(QuotaRpcRefusal)) this.refusals.inc({ reason }, 0);
  }

  record(result: QuotaReserveResult): void {
    if (result.accepted) this.decisions.inc({ outcome: 'accepted', limit: 'none' });
    else if ('givenUp' in result) this.decisions.inc({ outcome: 'given-up', limit: 'none' });
    else this.decisions.inc({ outcome: 'rejected', limit: result.limit });
  }

  refused(reason: QuotaRpcRefusal): void {
    this.refusals.inc({ reason });
  }
}
