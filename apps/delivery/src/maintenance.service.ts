import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BROADCAST_JOBS,
  BROADCAST_QUEUE,
  chunkJobId,
  DELIVER_CHUNK_JOB_OPTIONS,
  DELIVER_MESSAGE_JOB_OPTIONS,
  DeliverChunkJob,
  DELIVERY_JOBS,
  DELIVERY_QUEUE,
  DeliverMessageJob,
  MAINTENANCE_JOBS,
  MAINTENANCE_QUEUE,
} from '@app/shared/contracts';
import { BroadcastRepository } from './broadcast.repository';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';
import { DeliveryRepository, SWEEP_START, UndeliveredCursor } from './delivery.repository';

const SWEEP_BATCH = 1000;
export const PURGE_BATCH = 500;
// A purge job stops after this long; if expired rows remain, it queues its own
// continuation at once, so the periodic sweep gets its turn in between.
const PURGE_BUDGET_MS = 10_000;
const KEYS_BATCH = 5000;

const SCHEDULE_OPTIONS = { removeOnComplete: true, removeOnFail: 100 };

export interface PurgeTotals {
  messages: number;
  /** Chunks of expired broadcasts whose entries were removed. */
  broadcastChunks: number;
  entries: number;
  idempotencyKeys: number;
  /** Whether expired rows were left for the continuation job. */
  more: boolean;
}

/** How long the oldest job still waiting on `queue` has waited, in whole seconds (0: none waits). */
export async function oldestWaitingSeconds(queue: Pick<Queue, 'getJobs'>): Promise<number> {
  // The head of each list, oldest first: jobs are taken in the order they were added.
  const oldest = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
  const added = Math.min(...oldest.map((job) => job.timestamp));
  return Number.isFinite(added) ? Math.max(0, Math.ceil((Date.now() - added) / 1000)) : 0;
}

/**
 * The periodic jobs, on their own queue. The sweeper makes Postgres, not the
 * queue, the source of truth: an accepted message that is still undelivered
 * after REDELIVER_AFTER_SECONDS gets its job back, whether the queue lost it
 * (Redis restarted without persistence, flushed, the enqueue failed) or the
 * job exhausted its attempts. The purge deletes expired messages, entries and
 * Idempotency-Key records, a batch at a time, pausing between batches so it
 * takes only PURGE_DUTY_PERCENT of Postgres's time while it has a backlog.
 */
@Injectable()
export class MaintenanceService {
  private readonly logger = new Logger(MaintenanceService.name);
  // Where this process's last sweep stopped: each sweep takes the next part of
  // the undelivered list, so messages failing at its head cannot starve the rest.
  private cursor: UndeliveredCursor = SWEEP_START;

  constructor(
    @InjectQueue(DELIVERY_QUEUE) private readonly deliveries: Queue<DeliverMessageJob>,
    @InjectQueue(MAINTENANCE_QUEUE) private readonly maintenance: Queue,
    @InjectQueue(BROADCAST_QUEUE) private readonly broadcasts: Queue<DeliverChunkJob>,
    private readonly repository: DeliveryRepository,
    private readonly broadcastRepository: BroadcastRepository,
    private readonly metrics: DeliveryMetrics,
    private readonly config: DeliveryConfig,
  ) {}

  /** Registers the periodic jobs; BullMQ keeps one schedule per id however many workers register it. */
  async schedule(): Promise<void> {
    const sweepEvery = Math.max(1000, Math.floor((this.config.REDELIVER_AFTER_SECONDS * 1000) / 2));
    await this.maintenance.upsertJobScheduler(
      MAINTENANCE_JOBS.redeliverSweep,
      { every: sweepEvery },
      { name: MAINTENANCE_JOBS.redeliverSweep, opts: SCHEDULE_OPTIONS },
    );
    await this.maintenance.upsertJobScheduler(
      MAINTENANCE_JOBS.purgeExpired,
      { every: this.config.PURGE_INTERVAL_SECONDS * 1000 },
      { name: MAINTENANCE_JOBS.purgeExpired, opts: SCHEDULE_OPTIONS },
    );
    // Before their own queue, the schedules lived on the delivery queue.
    for (const legacy of Object.values(MAINTENANCE_JOBS)) await this.deliveries.removeJobScheduler(legacy);
  }

  /**
   * Returns how many messages were enqueued again. A message still waiting in
   * the queue is not one to sweep: a grouped job is found by its first
   * message's id only, so without this the others of every group in a backlog
   * older than REDELIVER_AFTER_SECONDS would each get a second, single job,
   * exactly when delivery is behind. So the age that counts as lost is
   * REDELIVER_AFTER_SECONDS past the oldest job still waiting: a message sent
   * after that job was added cannot have been lost yet (jobs wait in the order
   * they were added), and when the queue lost its jobs nothing waits, so the
   * sweep is as prompt as ever.
   */
  async sweep(): Promise<number> {
    const olderThan = this.config.REDELIVER_AFTER_SECONDS + (await oldestWaitingSeconds(this.deliveries));
    const rows = await this.repository.undelivered(olderThan, this.cursor, SWEEP_BATCH);
    // At the end of the list, the next sweep starts over from its head.
    this.cursor = rows.length < SWEEP_BATCH ? SWEEP_START : { sent: rows[rows.length - 1].sent, id: rows[rows.length - 1].id };
    let requeued = 0;
    for (const row of rows) {
      if (await this.requeue({ messageId: row.id, requestId: row.request_id ?? undefined })) requeued++;
    }
    if (requeued > 0) {
      this.metrics.redelivered.inc(requeued);
      this.logger.log(`Enqueued ${requeued} undelivered messages again`);
    }
    return requeued + (await this.sweepBroadcasts());
  }

  /**
   * Broadcast chunks still unwritten REDELIVER_AFTER_SECONDS after their
   * broadcast was accepted get their job back (the gateway died before
   * enqueueing them, Redis lost them, or they exhausted their attempts), and
   * a broadcast whose chunks are all written but which no worker marked done
   * (it died in between) is marked done. Returns the chunks enqueued again.
   */
  async sweepBroadcasts(): Promise<number> {
    const after = this.config.REDELIVER_AFTER_SECONDS;
    let requeued = 0;
    for (const row of await this.broadcastRepository.pendingChunks(after, SWEEP_BATCH)) {
      if (await this.requeueChunk({ broadcastId: row.broadcast_id, chunk: row.chunk })) requeued++;
    }
    for (const id of await this.broadcastRepository.unfinished(after)) await this.broadcastRepository.finish(id);
    if (requeued > 0) {
      this.metrics.redelivered.inc(requeued);
      this.logger.log(`Enqueued ${requeued} unwritten broadcast chunks again`);
    }
    return requeued;
  }

  /** Deletes expired rows for up to PURGE_BUDGET_MS; returns what it deleted. */
  async purge(): Promise<PurgeTotals> {
    const deadline = Date.now() + PURGE_BUDGET_MS;
    const total: PurgeTotals = { messages: 0, broadcastChunks: 0, entries: 0, idempotencyKeys: 0, more: false };
    let chunksLeft = true;
    let messagesLeft = true;
    let keysLeft = true;
    while ((chunksLeft || messagesLeft || keysLeft) && Date.now() < deadline) {
      const started = Date.now();
      // An expired broadcast's entries first, a chunk at a time: its message goes once they are gone.
      if (chunksLeft) {
        const entries = await this.broadcastRepository.purgeChunk();
        chunksLeft = entries !== null;
        if (entries !== null) {
          total.broadcastChunks++;
          total.entries += entries;
          // Its message may be free to go now.
          messagesLeft = true;
        }
      }
      if (messagesLeft) {
        const batch = await this.repository.purgeExpiredBatch(PURGE_BATCH);
        total.messages += batch.messages;
        total.entries += batch.entries;
        messagesLeft = batch.messages === PURGE_BATCH;
      }
      if (keysLeft) {
        const keys = await this.repository.purgeIdempotencyKeys(KEYS_BATCH);
        total.idempotencyKeys += keys;
        keysLeft = keys === KEYS_BATCH;
      }
      if (chunksLeft || messagesLeft || keysLeft) await sleep(this.pauseAfter(Date.now() - started));
    }
    this.metrics.purged.inc({ kind: 'messages' }, total.messages);
    this.metrics.purged.inc({ kind: 'inbox-entries' }, total.entries);
    this.metrics.purged.inc({ kind: 'idempotency-keys' }, total.idempotencyKeys);
    total.more = chunksLeft || messagesLeft || keysLeft;
    if (total.more) await this.maintenance.add(MAINTENANCE_JOBS.purgeExpired, {}, SCHEDULE_OPTIONS);
    return total;
  }

  /** The pause after a batch that took `busyMs`, so deleting takes PURGE_DUTY_PERCENT of the time. */
  pauseAfter(busyMs: number): number {
    const duty = this.config.PURGE_DUTY_PERCENT;
    return Math.round((busyMs * (100 - duty)) / duty);
  }

  /** As {@link requeue}, for a broadcast chunk (job id `<broadcast>.<chunk>`). */
  private async requeueChunk(data: DeliverChunkJob): Promise<boolean> {
    const jobId = chunkJobId(data);
    const job = await this.broadcasts.getJob(jobId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed');
        return true;
      }
      if (state !== 'completed' && state !== 'unknown') return false;
      await job.remove();
    }
    await this.broadcasts.add(BROADCAST_JOBS.deliverChunk, data, { ...DELIVER_CHUNK_JOB_OPTIONS, jobId });
    return true;
  }

  /**
   * Gives a message its job back, keeping the request id of its send for the
   * logs. A job still waiting, delayed or active is left alone; a failed one
   * is retried; a finished or missing one is added again (the job id is the
   * message id, so this never duplicates a live job).
   */
  private async requeue(data: DeliverMessageJob): Promise<boolean> {
    const job = await this.deliveries.getJob(data.messageId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed');
        return true;
      }
      if (state !== 'completed' && state !== 'unknown') return false;
      await job.remove();
    }
    await this.deliveries.add(DELIVERY_JOBS.deliverMessage, data, { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: data.messageId });
    return true;
  }
}
