import { DeliveryBatcher } from './delivery.batcher';
import { DeliveryConfig } from './delivery.config';
import { DeliveryOutcome, DeliveryService } from './delivery.service';

type Outcomes = Map<string, DeliveryOutcome>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** A promise's state as seen so far, read without awaiting it (so a test never hangs on one that never settles). */
interface Tracked {
  state: 'pending' | 'resolved' | 'rejected';
  value?: DeliveryOutcome;
  error?: unknown;
}

function track(promise: Promise<DeliveryOutcome>): Tracked {
  const tracked: Tracked = { state: 'pending' };
  promise.then(
    (value) => Object.assign(tracked, { state: 'resolved', value }),
    (error: unknown) => Object.assign(tracked, { state: 'rejected', error }),
  );
  return tracked;
}

/** Lets `turns` turns of the event loop pass (each drains the microtasks queued before it). */
async function turns(count = 5): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((wake) => setImmediate(wake));
}

/**
 * A stand-in for DeliveryService.deliverBatch: records each call's ids and
 * answers with `answer(ids)`, counting the calls still open.
 */
class FakeDelivery {
  readonly calls: string[][] = [];
  open = 0;
  mostOpen = 0;

  constructor(private readonly answer: (ids: string[], call: number) => Promise<Outcomes> | Outcomes) {}

  readonly service = {
    deliverBatch: async (ids: readonly string[]): Promise<Outcomes> => {
      const call = this.calls.push([...ids]) - 1;
      this.open++;
      this.mostOpen = Math.max(this.mostOpen, this.open);
      try {
        return await this.answer([...ids], call);
      } finally {
        this.open--;
      }
    },
  } as unknown as DeliveryService;
}

function batcherOf(fake: FakeDelivery, batchSize: number): DeliveryBatcher {
  return new DeliveryBatcher(fake.service, { DELIVERY_BATCH_SIZE: batchSize } as DeliveryConfig);
}

const allDelivered = (ids: string[]): Outcomes => new Map(ids.map((id) => [id, 'delivered']));

describe('DeliveryBatcher', () => {
  it('should write the messages requested in the same tick as one batch and give each caller its own outcome', async () => {
    const outcomes: Outcomes = new Map([
      ['m1', 'delivered'],
      ['m2', 'already-delivered'],
      ['m3', 'gone'],
    ]);
    const fake = new FakeDelivery(() => outcomes);
    const batcher = batcherOf(fake, 50);

    const results = await Promise.all(['m1', 'm2', 'm3'].map((id) => batcher.deliver(id)));

    expect(fake.calls).toEqual([['m1', 'm2', 'm3']]);
    expect(results).toEqual(['delivered', 'already-delivered', 'gone']);
  });

  it('should write a lone message after one turn of the event loop, without waiting for more', async () => {
    const fake = new FakeDelivery(allDelivered);
    const batcher = batcherOf(fake, 50);

    const result = track(batcher.deliver('lone'));
    expect(fake.calls).toEqual([]);
    await turns(1);

    expect(fake.calls).toEqual([['lone']]);
    expect(result).toEqual({ state: 'resolved', value: 'delivered' });
  });

  it('should split more than DELIVERY_BATCH_SIZE into batches of at most that size, starting full ones at once and keeping at most two in flight', async () => {
    const held: Array<Deferred<Outcomes>> = [];
    const fake = new FakeDelivery(() => {
      const batch = deferred<Outcomes>();
      held.push(batch);
      return batch.promise;
    });
    const batcher = batcherOf(fake, 3);
    const ids = Array.from({ length: 11 }, (_, index) => `m${String(index).padStart(2, '0')}`);

    const results = ids.map((id) => track(batcher.deliver(id)));

    // Two full batches started in the very tick they filled; the rest wait for a free slot.
    expect(fake.calls).toEqual([ids.slice(0, 3), ids.slice(3, 6)]);
    await turns();
    expect(fake.calls).toHaveLength(2);
    expect(results.map((result) => result.state)).toEqual(ids.map(() => 'pending'));

    held[1].resolve(allDelivered(fake.calls[1]));
    await turns();
    expect(fake.calls).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6, 9)]);
    expect(results.map((result) => result.state)).toEqual(
      ids.map((_, index) => (index >= 3 && index < 6 ? 'resolved' : 'pending')),
    );

    held[0].resolve(allDelivered(fake.calls[0]));
    await turns();
    expect(fake.calls).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6, 9), ids.slice(9)]);
    held[2].resolve(allDelivered(fake.calls[2]));
    held[3].resolve(allDelivered(fake.calls[3]));
    await turns();

    expect(fake.mostOpen).toBe(2);
    expect(fake.calls).toHaveLength(4);
    expect(results).toEqual(ids.map(() => ({ state: 'resolved', value: 'delivered' })));
  });

  it('should keep at most two batches in flight and write every message exactly once under a long stream of requests', async () => {
    const held: Array<{ ids: string[]; batch: Deferred<Outcomes> }> = [];
    const fake = new FakeDelivery((ids) => {
      const batch = deferred<Outcomes>();
      held.push({ ids, batch });
      return batch.promise;
    });
    const batcher = batcherOf(fake, 4);
    const ids = Array.from({ length: 50 }, (_, index) => `m${String(index).padStart(2, '0')}`);
    const results: Tracked[] = [];

    // Requests keep arriving, faster than one batch a turn, while batches finish one a turn, oldest first.
    let rounds = 0;
    for (let next = 0; next < ids.length || results.some((result) => result.state === 'pending'); next += 5) {
      expect(++rounds).toBeLessThan(100);
      for (const id of ids.slice(next, next + 5)) results.push(track(batcher.deliver(id)));
      await turns(2);
      expect(fake.open).toBeLessThanOrEqual(2);
      const finished = held.shift();
      finished?.batch.resolve(allDelivered(finished.ids));
      await turns(2);
    }

    expect(fake.mostOpen).toBe(2);
    expect(fake.calls.every((call) => call.length >= 1 && call.length <= 4)).toBe(true);
    // Under this load the waiting requests filled whole batches.
    expect(Math.max(...fake.calls.map((call) => call.length))).toBe(4);
    expect(fake.calls.flat().sort()).toEqual(ids);
    expect(results).toEqual(ids.map(() => ({ state: 'resolved', value: 'delivered' })));
  });

  it('should write a message requested twice in the same tick once and resolve both callers with its outcome', async () => {
    const fake = new FakeDelivery(
      () =>
        new Map<string, DeliveryOutcome>([
          ['dup', 'already-delivered'],
          ['other', 'delivered'],
        ]),
    );
    const batcher = batcherOf(fake, 50);

    const results = ['dup', 'other', 'dup'].map((id) => track(batcher.deliver(id)));
    await turns();

    expect(fake.calls).toEqual([['dup', 'other']]);
    expect(results).toEqual([
      { state: 'resolved', value: 'already-delivered' },
      { state: 'resolved', value: 'delivered' },
      { state: 'resolved', value: 'already-delivered' },
    ]);
  });

  it('should retry a batch that throws one message at a time, so only the message that fails alone rejects', async () => {
    const poisoned = new Error('insert into inbox_entries failed for m2');
    const fake = new FakeDelivery((ids) => {
      if (ids.length > 1) throw new Error('the batch failed');
      if (ids[0] === 'm2') throw poisoned;
      return new Map([[ids[0], ids[0] === 'm3' ? 'already-delivered' : 'delivered']]);
    });
    const batcher = batcherOf(fake, 50);

    const results = ['m1', 'm2', 'm3', 'm4', 'm2'].map((id) => track(batcher.deliver(id)));
    await turns(10);

    expect(fake.calls).toEqual([['m1', 'm2', 'm3', 'm4'], ['m1'], ['m2'], ['m3'], ['m4']]);
    // One at a time: the retries never overlap.
    expect(fake.mostOpen).toBe(1);
    expect(results).toEqual([
      { state: 'resolved', value: 'delivered' },
      { state: 'rejected', error: poisoned },
      { state: 'resolved', value: 'already-delivered' },
      { state: 'resolved', value: 'delivered' },
      { state: 'rejected', error: poisoned },
    ]);
  });

  it('should reject a lone message whose write throws with that error, without writing it again', async () => {
    const failure = new Error('connection refused');
    const fake = new FakeDelivery(() => {
      throw failure;
    });
    const batcher = batcherOf(fake, 50);

    await expect(batcher.deliver('lone')).rejects.toBe(failure);
    expect(fake.calls).toEqual([['lone']]);
  });

  it('should reject a message the delivery statement returned no outcome for, naming it, and resolve the others', async () => {
    const fake = new FakeDelivery(() => new Map([['m1', 'delivered']]));
    const batcher = batcherOf(fake, 50);

    const results = ['m1', 'm2'].map((id) => track(batcher.deliver(id)));
    await turns();

    expect(fake.calls).toEqual([['m1', 'm2']]);
    expect(results).toEqual([
      { state: 'resolved', value: 'delivered' },
      { state: 'rejected', error: new Error('The delivery statement returned nothing for message m2') },
    ]);
  });

  it('should settle no caller before its batch has committed', async () => {
    const batch = deferred<Outcomes>();
    const fake = new FakeDelivery(() => batch.promise);
    const batcher = batcherOf(fake, 50);

    const results = ['m1', 'm2'].map((id) => track(batcher.deliver(id)));
    await turns(20);
    expect(fake.calls).toEqual([['m1', 'm2']]);
    expect(results.map((result) => result.state)).toEqual(['pending', 'pending']);

    batch.resolve(allDelivered(['m1', 'm2']));
    await turns(1);
    expect(results).toEqual([
      { state: 'resolved', value: 'delivered' },
      { state: 'resolved', value: 'delivered' },
    ]);
  });

  it('should settle no caller of a failed batch before its own one-message retry has committed', async () => {
    const retries = new Map<string, Deferred<Outcomes>>();
    const fake = new FakeDelivery((ids) => {
      if (ids.length > 1) throw new Error('the batch failed');
      const retry = deferred<Outcomes>();
      retries.set(ids[0], retry);
      return retry.promise;
    });
    const batcher = batcherOf(fake, 50);

    const results = ['m1', 'm2'].map((id) => track(batcher.deliver(id)));
    await turns();
    expect(fake.calls).toEqual([['m1', 'm2'], ['m1']]);
    expect(results.map((result) => result.state)).toEqual(['pending', 'pending']);

    retries.get('m1')!.resolve(allDelivered(['m1']));
    await turns();
    expect(fake.calls).toEqual([['m1', 'm2'], ['m1'], ['m2']]);
    expect(results.map((result) => result.state)).toEqual(['resolved', 'pending']);

    retries.get('m2')!.resolve(allDelivered(['m2']));
    await turns(1);
    expect(results.map((result) => result.state)).toEqual(['resolved', 'resolved']);
  });
});
