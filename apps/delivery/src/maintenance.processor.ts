import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job } from 'bullmq';
import { MAINTENANCE_JOBS, MAINTENANCE_QUEUE, MaintenanceJobName } from '@app/shared/contracts';
import { MaintenanceService } from './maintenance.service';
import { WorkerErrorLog } from './worker-error-log';

const RESCHEDULE_EVERY_MS = 30_000;

/**
 * The maintenance queue's worker: one job at a time per delivery process,
 * apart from deliveries (a backlog never delays the sweep or the purge, and a
 * purge never takes a delivery slot).
 */
@Processor(MAINTENANCE_QUEUE, { autorun: false, concurrency: 1 })
export class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private rescheduler?: NodeJS.Timeout;
  private readonly logger = new Logger(MaintenanceProcessor.name);
  private readonly workerErrors = new WorkerErrorLog(this.logger, MAINTENANCE_QUEUE);
  private readonly handlers: Record<MaintenanceJobName, () => Promise<unknown>>;

  constructor(private readonly maintenance: MaintenanceService) {
    super();
    this.handlers = {
      [MAINTENANCE_JOBS.redeliverSweep]: () => this.maintenance.sweep(),
      [MAINTENANCE_JOBS.purgeExpired]: () => this.maintenance.purge(),
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.maintenance.schedule();
    // The schedules live in Redis: if Redis loses its data while this worker
    // runs, registering them again (idempotent) brings the sweeper back.
    this.rescheduler = setInterval(() => {
      this.maintenance.schedule().catch((error: Error) => this.logger.warn(`Could not register schedules: ${error.message}`));
    }, RESCHEDULE_EVERY_MS);
    this.rescheduler.unref();
    void this.worker.run();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.rescheduler);
  }

  async process(job: Job): Promise<unknown> {
    const handler = this.handlers[job.name as MaintenanceJobName];
    if (!handler) throw new Error(`Unknown maintenance job "${job.name}"`);
    const started = Date.now();
    const result = await handler();
    this.logger.debug({ jobId: job.id, job: job.name, ms: Date.now() - started, result });
    return result;
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.workerErrors.note(error);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    this.logger.warn({ jobId: job?.id, job: job?.name, err: error.message }, 'Maintenance job failed');
  }
}
