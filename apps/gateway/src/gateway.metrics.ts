import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import { AppError, ERRORS, isDependencyFailure } from '@app/shared/errors';
import { InjectMetrics } from '@app/shared/metrics';

/** The gateway's own metrics, beside the HTTP latency every service has. */
@Injectable()
export class GatewayMetrics {
  private readonly sends: Counter<'error_code'>;
  readonly quotaWait: Histogram<'call' | 'outcome'>;

  constructor(@InjectMetrics() registry: Registry) {
    this.sends = new Counter({
      name: 'gateway_send_outcomes_total',
      help: 'Sends that passed authentication, by errorCode of the answer (0: accepted)',
      labelNames: ['error_code'],
      registers: [registry],
    });
    this.quotaWait = new Histogram({
      name: 'gateway_quota_wait_seconds',
      help: 'Time waiting on the quota service, by call and outcome (ok, error)',
      labelNames: ['call', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  }

  sendAccepted(): void {
    this.sends.inc({ error_code: '0' });
  }

  sendRefused(error: unknown): void {
    const code =
      error instanceof AppError
        ? error.definition.code
        : isDependencyFailure(error)
          ? ERRORS.DEPENDENCY_UNAVAILABLE.code
          : ERRORS.INTERNAL.code;
    this.sends.inc({ error_code: String(code) });
  }
}
