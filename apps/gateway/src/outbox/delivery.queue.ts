import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS, DELIVERY_QUEUE, DeliverMessageJob } from '@app/shared/contracts';

/** Producer of deliver-message jobs. The job id is the message id: enqueueing twice is harmless. */
@Injectable()
export class DeliveryQueue {
  constructor(@InjectQueue(DELIVERY_QUEUE) private readonly queue: Queue<DeliverMessageJob>) {}

  async enqueue(job: DeliverMessageJob): Promise<void> {
    await this.queue.add(DELIVERY_JOBS.deliverMessage, job, {
      ...DELIVER_MESSAGE_JOB_OPTIONS,
      jobId: job.messageId,
    });
  }
}
