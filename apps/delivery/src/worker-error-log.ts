import { Logger } from '@nestjs/common';

/**
 * A BullMQ worker's own errors (its Redis connection failing, a Cluster
 * failover's redirections), logged once per kind while they repeat. Without a
 * listener BullMQ prints each one with its stack on stderr, outside the logs.
 */
export class WorkerErrorLog {
  private last = '';

  constructor(
    private readonly logger: Logger,
    private readonly queue: string,
  ) {}

  note(error: Error): void {
    if (error.message !== this.last) this.logger.warn(`The ${this.queue} worker's Redis connection failed: ${error.message}`);
    this.last = error.message;
  }
}
