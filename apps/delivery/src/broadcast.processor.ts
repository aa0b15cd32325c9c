import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job } from 'bullmq';
import { BROADCAST_JOBS, BROADCAST_QUEUE, DeliverChunkJob } from '@app/shared/contracts';
import { BroadcastPacer } from './broadcast.pacer';
import { BroadcastRepository, ChunkResult } from './broadcast.repository';
import { InboxEventsPublisher } from './inbox-events.publisher';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';
import { WorkerErrorLog } from './worker-error-log';

// A chunk is one statement of well under DATABASE_STATEMENT_TIMEOUT_MS, so a
// short lock hands a dead worker's chunk on within about 10 s.
const JOB_LOCK_MS = 7_500;
const STALLED_CHECK_MS = 2_500;

/**
 * The broadcast queue's worker: BROADCAST_CONCURRENCY chunks at a time per
 * delivery process, each one statement on its own connection, beside the
 * user deliveries (their own queue, their own two connections), so a
 * broadcast never holds a player's message behind it. A chunk is written
 * once whatever happens to its job (see BROADCAST_SQL.writeChunk); a failure
 * propagates so BullMQ retries with backoff.
 */
@Processor(BROADCAST_QUEUE, { autorun: false, lockDuration: JOB_LOCK_MS, stalledInterval: STALLED_CHECK_MS })
export class BroadcastProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(BroadcastProcessor.name);
  private readonly workerErrors = new WorkerErrorLog(this.logger, BROADCAST_QUEUE);

  constructor(
    private readonly repository: BroadcastRepository,
    private readonly metrics: DeliveryMetrics,
    private readonly config: DeliveryConfig,
    private readonly events: InboxEventsPublisher,
    private readonly pacer: BroadcastPacer,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.BROADCAST_CONCURRENCY;
    void this.worker.run();
  }

  async process(job: Job<DeliverChunkJob>): Promise<Omit<ChunkResult, 'delivered'>> {
    if (job.name !== BROADCAST_JOBS.deliverChunk) throw new Error(`Unknown broadcast job "${job.name}"`);
    const { broadcastId, chunk } = job.data;
    // Players' messages first: while they are slow, the chunk waits (its job lock is renewed meanwhile).
    await this.pacer.turn();
    const started = Date.now();
    const { delivered, ...result } = await this.repository.writeChunk(broadcastId, chunk);
    // Committed: the recipients' open streams hear of it now (a failed publish is caught up from Postgres).
    if (delivered) await this.events.publishFanOut(delivered);
    this.metrics.broadcastEntriesWritten.inc(result.written);
    this.metrics.broadcastChunks.inc({ outcome: result.outcome });
    if (result.outcome === 'written') this.metrics.broadcastChunkSeconds.observe((Date.now() - started) / 1000);
    if (await this.repository.finish(broadcastId)) this.logger.log({ broadcastId }, 'Broadcast done');
    this.logger.debug({ jobId: job.id, broadcastId, chunk, ms: Date.now() - started, ...result });
    return result;
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.workerErrors.note(error);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<DeliverChunkJob> | undefined, error: Error): void {
    if (!job) return;
    this.metrics.broadcastChunkFailures.inc();
    this.logger.warn(
      {
        jobId: job.id,
        broadcastId: job.data.broadcastId,
        chunk: job.data.chunk,
        attempt: job.attemptsMade,
        err: error.message,
      },
      'Broadcast chunk failed',
    );
  }
}
