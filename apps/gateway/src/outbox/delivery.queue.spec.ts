import { Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS, DeliverMessageJob, DeliverMessagesJob } from '@app/shared/contracts';
import { DeliveryQueue, MAX_MESSAGES_PER_JOB } from './delivery.queue';

type DeliveryQueueJob = DeliverMessageJob | DeliverMessagesJob;

interface Added {
  name: string;
  data: unknown;
  opts: Record<string, unknown>;
}

/** A queue that records what is added, each add held until released. */
function recordingQueue(): { queue: Queue<DeliveryQueueJob>; added: Added[]; release: (error?: Error) => void } {
  const added: Added[] = [];
  const held: Array<{ resolve(): void; reject(error: Error): void }> = [];
  const queue = {
    add: (name: string, data: unknown, opts: Record<string, unknown>) => {
      added.push({ name, data, opts });
      return new Promise<void>((resolve, reject) => held.push({ resolve, reject }));
    },
  } as unknown as Queue<DeliveryQueueJob>;
  return {
    queue,
    added,
    release: (error) => held.splice(0).forEach((add) => (error ? add.reject(error) : add.resolve())),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const ids = (count: number, from = 0): string[] =>
  Array.from({ length: count }, (_, index) => `m${String(from + index).padStart(3, '0')}`);

describe('DeliveryQueue', () => {
  it('should add a lone message as a deliver-message job whose id is the message id', async () => {
    const { queue, added, release } = recordingQueue();
    const enqueued = new DeliveryQueue(queue).enqueue({ messageId: 'm1', requestId: 'r1' });
    await turn();
    expect(added).toEqual([
      {
        name: DELIVERY_JOBS.deliverMessage,
        data: { messageId: 'm1', requestId: 'r1' },
        opts: { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: 'm1' },
      },
    ]);
    release();
    await expect(enqueued).resolves.toBeUndefined();
  });

  it('should put the messages of one turn into one deliver-messages job named by the first', async () => {
    const { queue, added, release } = recordingQueue();
    const producer = new DeliveryQueue(queue);
    const settled: string[] = [];
    const enqueued = ['a', 'b', 'c'].map((messageId) => producer.enqueue({ messageId }).then(() => settled.push(messageId)));
    await turn();
    expect(added).toEqual([
      {
        name: DELIVERY_JOBS.deliverMessages,
        data: { messages: [{ messageId: 'a' }, { messageId: 'b' }, { messageId: 'c' }] },
        opts: { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: 'a' },
      },
    ]);
    // Nobody is told the message is queued before Redis has the job.
    await turn();
    expect(settled).toEqual([]);
    release();
    await Promise.all(enqueued);
    expect(settled).toEqual(['a', 'b', 'c']);
  });

  it(`should split a turn of more than ${MAX_MESSAGES_PER_JOB} messages, and start a new job on the next turn`, async () => {
    const { queue, added, release } = recordingQueue();
    const producer = new DeliveryQueue(queue);
    const first = ids(MAX_MESSAGES_PER_JOB + 1).map((messageId) => producer.enqueue({ messageId }));
    await turn();
    const second = producer.enqueue({ messageId: 'later' });
    await turn();
    expect(
      added.map((add) => [add.name, add.opts.jobId, (add.data as { messages?: unknown[] }).messages?.length ?? 1]),
    ).toEqual([
      [DELIVERY_JOBS.deliverMessages, 'm000', MAX_MESSAGES_PER_JOB],
      [DELIVERY_JOBS.deliverMessage, `m${String(MAX_MESSAGES_PER_JOB).padStart(3, '0')}`, 1],
      [DELIVERY_JOBS.deliverMessage, 'later', 1],
    ]);
    release();
    await Promise.all([...first, second]);
  });

  it('should reject every caller of a job Redis refused', async () => {
    const { queue, release } = recordingQueue();
    const producer = new DeliveryQueue(queue);
    const enqueued = [producer.enqueue({ messageId: 'a' }), producer.enqueue({ messageId: 'b' })];
    await turn();
    release(new Error('Connection is closed.'));
    for (const result of await Promise.allSettled(enqueued)) {
      expect(result).toEqual({ status: 'rejected', reason: new Error('Connection is closed.') });
    }
  });
});
