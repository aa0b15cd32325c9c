import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { Job } from 'bullmq';
import { DELIVERY_JOBS, DELIVERY_QUEUE, DeliverMessageJob, DeliverMessagesJob, DeliveryJobName } from '@app/shared/contracts';
import { DeliveryConfig } from './delivery.config';
import { DeliveryBatcher } from './delivery.batcher';
import { DeliveryMetrics } from './delivery.metrics';
import { MaintenanceService } from './maintenance.service';

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
const RESCHEDULE_EVERY_MS = 30_000;

// The jobs that carry messages (the others are the periodic sweep and purge).
const DELIVERY_WORK = new Set<string>([DELIVERY_JOBS.deliverMessage, DELIVERY_JOBS.deliverMessages]);

@Processor(DELIVERY_QUEUE, { autorun: false, lockDuration: JOB_LOCK_MS, stalledInterval: STALLED_CHECK_MS })
export class DeliveryProcessor
  extends WorkerHost
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown
{
  private rescheduler?: NodeJS.Timeout;
  private readonly logger = new Logger(DeliveryProcessor.name);
  private readonly handlers: Record<DeliveryJobName, (job: Job) => Promise<unknown>>;

  constructor(
    private readonly batcher: DeliveryBatcher,
    private readonly maintenance: MaintenanceService,
    private readonly metrics: DeliveryMetrics,
    private readonly config: DeliveryConfig,
  ) {
    super();
    this.handlers = {
      [DELIVERY_JOBS.deliverMessage]: (job: Job<DeliverMessageJob>) =>
        // Settles once the message's batch has committed.
        this.batcher.deliver(job.data.messageId),
      [DELIVERY_JOBS.deliverMessages]: (job: Job<DeliverMessagesJob>) => this.deliverAll(job.data.messages),
      [DELIVERY_JOBS.redeliverSweep]: () => this.maintenance.sweep(),
      [DELIVERY_JOBS.purgeExpired]: () => this.maintenance.purge(),
    };
  }

  onModuleInit(): void {
    const missing = Object.values(DELIVERY_JOBS).filter((name) => !this.handlers[name]);
    if (missing.length > 0) throw new Error(`No handler for delivery job(s): ${missing.join(', ')}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.maintenance.schedule();
    // The schedules live in Redis: if Redis loses its data while this worker
    // runs, registering them again (idempotent) brings the sweeper back.
    this.rescheduler = setInterval(() => {
      this.maintenance.schedule().catch((error: Error) => this.logger.warn(`Could not register schedules: ${error.message}`));
    }, RESCHEDULE_EVERY_MS);
    this.rescheduler.unref();
    this.worker.concurrency = this.config.DELIVERY_CONCURRENCY;
    void this.worker.run();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.rescheduler);
  }

  async process(job: Job): Promise<unknown> {
    const handler = this.handlers[job.name as DeliveryJobName];
    if (!handler) throw new Error(`Unknown job name "${job.name}"`);
    const started = Date.now();
    if (DELIVERY_WORK.has(job.name) && job.attemptsMade === 0) {
      this.metrics.queueWait.observe(Math.max(0, started - job.timestamp) / 1000);
    }
    const result = await handler(job);
    const requestId = (job.data as Partial<DeliverMessageJob>)?.requestId;
    this.logger.debug({ jobId: job.id, job: job.name, attempt: job.attemptsMade + 1, ms: Date.now() - started, requestId, result });
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
      throw new Error(`Delivery of ${failed.length} of ${messages.length} messages failed (${failed.join(', ')}): ${(first.reason as Error)?.message}`);
    }
    const outcomes: Record<string, number> = {};
    for (const result of settled as PromiseFulfilledResult<string>[]) outcomes[result.value] = (outcomes[result.value] ?? 0) + 1;
    return outcomes;
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade < attempts) this.metrics.retries.inc();
    else this.metrics.failures.inc();
    const data = job.data as Partial<DeliverMessageJob>;
    this.logger.warn({
      jobId: job.id,
      job: job.name,
      attempt: job.attemptsMade,
      attempts,
      requestId: data.requestId,
      err: error.message,
    }, 'Delivery job failed');
  }
}
