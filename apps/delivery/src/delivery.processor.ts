import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { Job } from 'bullmq';
import { DELIVERY_JOBS, DELIVERY_QUEUE, DeliverMessageJob, DeliverMessagesJob, DeliveryJobName } from '@app/shared/contracts';
import { DeliveryConfig } from './delivery.config';
import { DeliveryBatcher } from './delivery.batcher';
import { DeliveryMetrics } from './delivery.metrics';
import { WorkerErrorLog } from './worker-error-log';

// A worker that dies keeps its active jobs locked until the lock expires, and
// only BullMQ's stalled check hands them on (the sweeper leaves active jobs
// alone). With BullMQ's defaults (30 s lock, 30 s check, the first check of a
// new worker often skipped) that took over a minute; jobs take milliseconds,
// so a short lock and a frequent check bound it to about 20 s.
const JOB_LOCK_MS = 10_000;
const STALLED_CHECK_MS = 5_000;

/**
 * The delivery queue's worker. Errors propagate so BullMQ retries with
 * backoff; handlers are idempotent, so a retry or a second worker racing on the
 * same message never writes an entry twice.
 */
@Processor(DELIVERY_QUEUE, { autorun: false, lockDuration: JOB_LOCK_MS, stalledInterval: STALLED_CHECK_MS })
export class DeliveryProcessor extends WorkerHost implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger(DeliveryProcessor.name);
  private readonly workerErrors = new WorkerErrorLog(this.logger, DELIVERY_QUEUE);
  private readonly handlers: Record<DeliveryJobName, (job: Job) => Promise<unknown>>;

  constructor(
    private readonly batcher: DeliveryBatcher,
    private readonly metrics: DeliveryMetrics,
    private readonly config: DeliveryConfig,
  ) {
    super();
    this.handlers = {
      [DELIVERY_JOBS.deliverMessage]: (job: Job<DeliverMessageJob>) =>
        // Settles once the message's batch has committed.
        this.batcher.deliver(job.data.messageId),
      [DELIVERY_JOBS.deliverMessages]: (job: Job<DeliverMessagesJob>) => this.deliverAll(job.data.messages),
    };
  }

  onModuleInit(): void {
    const missing = Object.values(DELIVERY_JOBS).filter((name) => !this.handlers[name]);
    if (missing.length > 0) throw new Error(`No handler for delivery job(s): ${missing.join(', ')}`);
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.DELIVERY_CONCURRENCY;
    void this.worker.run();
  }

  async process(job: Job): Promise<unknown> {
    const handler = this.handlers[job.name as DeliveryJobName];
    if (!handler) throw new Error(`Unknown job name "${job.name}"`);
    const started = Date.now();
    if (job.attemptsMade === 0) {
      this.metrics.queueWait.observe(Math.max(0, started - job.timestamp) / 1000);
    }
    const result = await handler(job);
    const requestId = (job.data as Partial<DeliverMessageJob>)?.requestId;
    this.logger.debug({
      jobId: job.id,
      job: job.name,
      attempt: job.attemptsMade + 1,
      ms: Date.now() - started,
      requestId,
      result,
    });
    return result;
  }

  /**
   * The messages of one deliver-messages job, each through the batcher (so
   * they share transactions with every other job this worker holds). The job
   * completes once all are committed; if any failed it fails, naming them, and
   * its retry finds the others already delivered.
   */
  private async deliverAll(messages: DeliverMessageJob[]): Promise<Record<string, number>> {
    const settled = await Promise.allSettled(messages.map((message) => this.batcher.deliver(message.messageId)));
    const failed = messages.filter((_, index) => settled[index].status === 'rejected').map((message) => message.messageId);
    if (failed.length > 0) {
      const first = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected')!;
      throw new Error(
        `Delivery of ${failed.length} of ${messages.length} messages failed (${failed.join(', ')}): ${(first.reason as Error)?.message}`,
      );
    }
    const outcomes: Record<string, number> = {};
    for (const result of settled as PromiseFulfilledResult<string>[])
      outcomes[result.value] = (outcomes[result.value] ?? 0) + 1;
    return outcomes;
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.workerErrors.note(error);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade < attempts) this.metrics.retries.inc();
    else this.metrics.failures.inc();
    const data = job.data as Partial<DeliverMessageJob>;
    this.logger.warn(
      {
        jobId: job.id,
        job: job.name,
        attempt: job.attemptsMade,
        attempts,
        requestId: data.requestId,
        err: error.message,
      },
      'Delivery job failed',
    );
  }
}
