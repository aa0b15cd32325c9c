import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS, DELIVERY_QUEUE, DeliverMessageJob } from '@app/shared/contracts';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';
import { DeliveryRepository } from './delivery.repository';

const SWEEP_BATCH = 1000;
const PURGE_BATCH = 200;
// A purge run stops after this long; the next run continues.
const PURGE_BUDGET_MS = 5000;

/**
 * The periodic jobs. The sweeper makes Postgres, not the queue, the source of
 * truth: an accepted message that is still undelivered after
 * REDELIVER_AFTER_SECONDS gets its job back, whether the queue lost it (Redis
 * restarted without persistence, flushed, the enqueue failed) or the job
 * exhausted its attempts. The purge deletes expired messages and entries.
 */
@Injectable()
export class MaintenanceService {
  private readonly logger = new Logger(MaintenanceService.name);

  constructor(
    @InjectQueue(DELIVERY_QUEUE) private readonly queue: Queue<DeliverMessageJob>,
    private readonly repository: DeliveryRepository,
    private readonly metrics: DeliveryMetrics,
    private readonly config: DeliveryConfig,
  ) {}

  /** Registers the periodic jobs; BullMQ keeps one schedule per id however many workers register it. */
  async schedule(): Promise<void> {
    const sweepEvery = Math.max(1000, Math.floor((this.config.REDELIVER_AFTER_SECONDS * 1000) / 2));
    await this.queue.upsertJobScheduler(DELIVERY_JOBS.redeliverSweep, { every: sweepEvery }, {
      name: DELIVERY_JOBS.redeliverSweep,
      opts: { removeOnComplete: true, removeOnFail: 100 },
    });
    await this.queue.upsertJobScheduler(DELIVERY_JOBS.purgeExpired, { every: this.config.PURGE_INTERVAL_SECONDS * 1000 }, {
      name: DELIVERY_JOBS.purgeExpired,
      opts: { removeOnComplete: true, removeOnFail: 100 },
    });
  }

  /** Returns how many messages were enqueued again. */
  async sweep(): Promise<number> {
    const ids = await this.repository.undeliveredIds(this.config.REDELIVER_AFTER_SECONDS, SWEEP_BATCH);
    let requeued = 0;
    for (const messageId of ids) {
      if (await this.requeue(messageId)) requeued++;
    }
    if (requeued > 0) {
      this.metrics.redelivered.inc(requeued);
      this.logger.log(`Enqueued ${requeued} undelivered messages again`);
    }
    return requeued;
  }

  /** Returns what was deleted. */
  async purge(): Promise<{ messages: number; entries: number; idempotencyKeys: number }> {
    const deadline = Date.now() + PURGE_BUDGET_MS;
    const total = { messages: 0, entries: 0, idempotencyKeys: 0 };
    for (;;) {
      const batch = await this.repository.purgeExpiredBatch(PURGE_BATCH);
      total.messages += batch.messages;
      total.entries += batch.entries;
      if (batch.messages < PURGE_BATCH || Date.now() > deadline) break;
    }
    total.idempotencyKeys = await this.repository.purgeIdempotencyKeys(PURGE_BATCH * 10);
    this.metrics.purged.inc({ kind: 'messages' }, total.messages);
    this.metrics.purged.inc({ kind: 'inbox-entries' }, total.entries);
    this.metrics.purged.inc({ kind: 'idempotency-keys' }, total.idempotencyKeys);
    return total;
  }

  /**
   * Gives a message its job back. A job still waiting, delayed or active is
   * left alone; a failed one is retried; a finished or missing one is added
   * again (the job id is the message id, so this never duplicates a live job).
   */
  private async requeue(messageId: string): Promise<boolean> {
    const job = await this.queue.getJob(messageId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed');
        return true;
      }
      if (state !== 'completed' && state !== 'unknown') return false;
      await job.remove();
    }
    await this.queue.add(DELIVERY_JOBS.deliverMessage, { messageId }, { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: messageId });
    return true;
  }
}
