import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import {
  DELIVER_MESSAGE_JOB_OPTIONS,
  DELIVERY_JOBS,
  DELIVERY_QUEUE,
  DeliverMessageJob,
  DeliverMessagesJob,
} from '@app/shared/contracts';

/** The most messages one job carries; a larger group is split. */
export const MAX_MESSAGES_PER_JOB = 50;

interface Pending {
  job: DeliverMessageJob;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Producer of delivery jobs. The messages stored during one turn of the event
 * loop (under load, the several sends whose INSERTs were acknowledged
 * together) go into one job, added once the turn ends: a lone message is a
 * deliver-message job whose id is the message id, a group a deliver-messages
 * job whose id is its first message's. Each caller's promise settles when the
 * job holding its message is in Redis. Enqueueing a message twice is harmless.
 */
@Injectable()
export class DeliveryQueue {
  private pending: Pending[] = [];

  constructor(@InjectQueue(DELIVERY_QUEUE) private readonly queue: Queue<DeliverMessageJob | DeliverMessagesJob>) {}

  enqueue(job: DeliverMessageJob): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ job, resolve, reject });
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    for (let start = 0; start < pending.length; start += MAX_MESSAGES_PER_JOB) {
      const group = pending.slice(start, start + MAX_MESSAGES_PER_JOB);
      this.add(group.map((entry) => entry.job)).then(
        () => group.forEach((entry) => entry.resolve()),
        (error: unknown) => group.forEach((entry) => entry.reject(error)),
      );
    }
  }

  private async add(messages: DeliverMessageJob[]): Promise<void> {
    const options = { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: messages[0].messageId };
    if (messages.length === 1) await this.queue.add(DELIVERY_JOBS.deliverMessage, messages[0], options);
    else await this.queue.add(DELIVERY_JOBS.deliverMessages, { messages }, options);
  }
}
