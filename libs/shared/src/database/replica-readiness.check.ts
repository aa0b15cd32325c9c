import { Injectable } from '@nestjs/common';
import { ReadinessCheck, ReadinessFailure } from '../http/health.controller';
import { ReadDatabase } from './read-database';

/**
 * The read replica, as the lag sampler last saw it (no query of its own).
 * Optional: while it is down or lagging, listings are answered by the
 * primary, so the service stays ready and only says `degraded`.
 */
@Injectable()
export class ReplicaReadinessCheck implements ReadinessCheck {
  readonly name = 'replica';

  constructor(private readonly reads: ReadDatabase) {}

  check(): Promise<void> {
    const { state, lagMs } = this.reads.replicaStatus();
    if (state === 'up') return Promise.resolve();
    const reason =
      state === 'lagging'
        ? `${lagMs} ms behind the primary (limit ${this.reads.maxLag} ms); listings go to the primary`
        : state === 'down'
          ? 'unreachable; listings go to the primary'
          : 'not sampled yet; listings go to the primary';
    return Promise.reject(new ReadinessFailure(reason));
  }
}
