import { getQueueToken } from '@nestjs/bullmq';
import { Test } from '@nestjs/testing';
import {
  BROADCAST_JOBS,
  BROADCAST_QUEUE,
  DELIVERY_JOBS,
  DELIVERY_QUEUE,
  MAINTENANCE_JOBS,
  MAINTENANCE_QUEUE,
} from '@app/shared/contracts';
import { BroadcastRepository } from './broadcast.repository';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';
import { DeliveryRepository, SWEEP_START, UndeliveredCursor } from './delivery.repository';
import { MaintenanceService, PURGE_BATCH } from './maintenance.service';

const row = (n: number) => ({ id: `M${String(n).padStart(5, '0')}`, request_id: `req-${n}`, sent: new Date(1_000_000 + n) });

describe('MaintenanceService', () => {
  let repository: {
    undelivered: jest.Mock<Promise<ReturnType<typeof row>[]>, [number, UndeliveredCursor, number]>;
    purgeExpiredBatch: jest.Mock;
    purgeIdempotencyKeys: jest.Mock;
  };
  let deliveries: {
    getJob: jest.Mock;
    getJobs: jest.Mock;
    add: jest.Mock;
    removeJobScheduler: jest.Mock<Promise<void>, [string]>;
  };
  let maintenance: { add: jest.Mock; upsertJobScheduler: jest.Mock<Promise<void>, [string, ...unknown[]]> };
  let broadcastRepository: { pendingChunks: jest.Mock; unfinished: jest.Mock; finish: jest.Mock; purgeChunk: jest.Mock };
  let broadcasts: { getJob: jest.Mock; add: jest.Mock };
  let service: MaintenanceService;

  beforeEach(async () => {
    repository = {
      undelivered: jest.fn<Promise<ReturnType<typeof row>[]>, [number, UndeliveredCursor, number]>(),
      purgeExpiredBatch: jest.fn(),
      purgeIdempotencyKeys: jest.fn().mockResolvedValue(0),
    };
    deliveries = {
      getJob: jest.fn().mockResolvedValue(undefined),
      getJobs: jest.fn().mockResolvedValue([]),
      add: jest.fn(),
      removeJobScheduler: jest.fn<Promise<void>, [string]>(),
    };
    maintenance = { add: jest.fn(), upsertJobScheduler: jest.fn<Promise<void>, [string, ...unknown[]]>() };
    broadcastRepository = {
      pendingChunks: jest.fn().mockResolvedValue([]),
      unfinished: jest.fn().mockResolvedValue([]),
      finish: jest.fn().mockResolvedValue(true),
      purgeChunk: jest.fn().mockResolvedValue(null),
    };
    broadcasts = { getJob: jest.fn().mockResolvedValue(undefined), add: jest.fn() };
    const counter = { inc: jest.fn() };
    const moduleRef = await Test.createTestingModule({
      providers: [
        MaintenanceService,
        { provide: DeliveryRepository, useValue: repository },
        { provide: getQueueToken(DELIVERY_QUEUE), useValue: deliveries },
        { provide: getQueueToken(MAINTENANCE_QUEUE), useValue: maintenance },
        { provide: getQueueToken(BROADCAST_QUEUE), useValue: broadcasts },
        { provide: BroadcastRepository, useValue: broadcastRepository },
        { provide: DeliveryMetrics, useValue: { redelivered: counter, purged: counter } },
        {
          provide: DeliveryConfig,
          useValue: Object.assign(new DeliveryConfig(), { REDELIVER_AFTER_SECONDS: 30, PURGE_DUTY_PERCENT: 25 }),
        },
      ],
    }).compile();
    service = moduleRef.get(MaintenanceService);
  });

  it('should walk the undelivered list a page per sweep, then start over, so a failing head cannot starve the rest', async () => {
    const firstPage = Array.from({ length: 1000 }, (_, i) => row(i));
    const lastPage = [row(1000), row(1001)];
    repository.undelivered
      .mockResolvedValueOnce(firstPage)
      .mockResolvedValueOnce(lastPage)
      .mockResolvedValueOnce([row(0)]);

    await service.sweep();
    await service.sweep();
    await service.sweep();

    expect(repository.undelivered.mock.calls.map((call) => call[1])).toEqual([
      SWEEP_START,
      { sent: firstPage[999].sent, id: firstPage[999].id },
      SWEEP_START,
    ]);
  });

  it('should give a lost message its job back with the request id of its send', async () => {
    repository.undelivered.mockResolvedValueOnce([row(7)]);

    expect(await service.sweep()).toBe(1);

    expect(deliveries.add).toHaveBeenCalledWith(
      DELIVERY_JOBS.deliverMessage,
      { messageId: 'M00007', requestId: 'req-7' },
      expect.objectContaining({ jobId: 'M00007' }),
    );
  });

  it('should leave a message whose job is still live alone, and retry a failed one', async () => {
    repository.undelivered.mockResolvedValueOnce([row(1), row(2)]);
    const failed = { getState: jest.fn().mockResolvedValue('failed'), retry: jest.fn() };
    const waiting = { getState: jest.fn().mockResolvedValue('waiting') };
    deliveries.getJob.mockImplementation((id: string) => (id === 'M00001' ? failed : waiting));

    expect(await service.sweep()).toBe(1);

    expect(failed.retry).toHaveBeenCalledWith('failed');
    expect(deliveries.add).not.toHaveBeenCalled();
  });

  it('should count as lost only what is older than REDELIVER_AFTER_SECONDS past the oldest job still waiting', async () => {
    repository.undelivered.mockResolvedValue([]);
    await service.sweep();
    // Two minutes of backlog: a message sent within them may still be in a grouped job that waits.
    const now = Date.now();
    deliveries.getJobs.mockResolvedValue([{ timestamp: now - 120_000 }, { timestamp: now - 5_000 }]);
    await service.sweep();

    expect(deliveries.getJobs).toHaveBeenCalledWith(['wait', 'prioritized'], 0, 0, true);
    const olderThan = repository.undelivered.mock.calls.map((call) => call[0]);
    expect(olderThan[0]).toBe(30);
    expect(olderThan[1]).toBeGreaterThanOrEqual(150);
    expect(olderThan[1]).toBeLessThanOrEqual(152);
  });

  it('should purge batch after batch until one comes back short, without queueing a continuation', async () => {
    repository.purgeExpiredBatch
      .mockResolvedValueOnce({ messages: PURGE_BATCH, entries: 5 * PURGE_BATCH })
      .mockResolvedValueOnce({ messages: 3, entries: 15 });

    expect(await service.purge()).toEqual({
      messages: PURGE_BATCH + 3,
      broadcastChunks: 0,
      entries: 5 * PURGE_BATCH + 15,
      idempotencyKeys: 0,
      more: false,
    });
    expect(maintenance.add).not.toHaveBeenCalled();
  });

  it('should queue its own continuation at once when its time budget ends with expired rows left', async () => {
    const realNow = Date.now.bind(Date);
    let calls = 0;
    // Time runs out after the first batch.
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + (calls++ > 1 ? 60_000 : 0));
    repository.purgeExpiredBatch.mockResolvedValue({ messages: PURGE_BATCH, entries: PURGE_BATCH });
    try {
      expect((await service.purge()).more).toBe(true);
    } finally {
      clock.mockRestore();
    }
    expect(maintenance.add).toHaveBeenCalledWith(MAINTENANCE_JOBS.purgeExpired, {}, expect.any(Object));
  });

  it("should give a broadcast's unwritten chunks their jobs back and finish a broadcast whose chunks are all written", async () => {
    broadcastRepository.pendingChunks.mockResolvedValueOnce([
      { broadcast_id: 'B1', chunk: 0 },
      { broadcast_id: 'B1', chunk: 3 },
    ]);
    broadcastRepository.unfinished.mockResolvedValueOnce(['B2']);
    repository.undelivered.mockResolvedValueOnce([]);
    const waiting = { getState: jest.fn().mockResolvedValue('waiting') };
    broadcasts.getJob.mockImplementation((id: string) => (id === 'B1.3' ? waiting : undefined));

    expect(await service.sweep()).toBe(1);

    expect(broadcasts.add).toHaveBeenCalledTimes(1);
    expect(broadcasts.add).toHaveBeenCalledWith(
      BROADCAST_JOBS.deliverChunk,
      { broadcastId: 'B1', chunk: 0 },
      expect.objectContaining({ jobId: 'B1.0' }),
    );
    expect(broadcastRepository.finish).toHaveBeenCalledWith('B2');
  });

  it("should purge an expired broadcast's chunks one at a time before the messages", async () => {
    broadcastRepository.purgeChunk.mockResolvedValueOnce(2000).mockResolvedValueOnce(1500).mockResolvedValueOnce(null);
    repository.purgeExpiredBatch.mockResolvedValue({ messages: 1, entries: 0 });

    expect(await service.purge()).toEqual({ messages: 2, broadcastChunks: 2, entries: 3500, idempotencyKeys: 0, more: false });
  });

  it('should pause after each batch so deleting takes only its duty share of the time', () => {
    // 25 %: a batch of 40 ms is followed by 120 ms of pause.
    expect(service.pauseAfter(40)).toBe(120);
    expect(service.pauseAfter(0)).toBe(0);
  });

  it('should pause between batches while a backlog remains, and not after the last', async () => {
    const pause = jest.spyOn(service, 'pauseAfter');
    repository.purgeExpiredBatch
      .mockResolvedValueOnce({ messages: PURGE_BATCH, entries: PURGE_BATCH })
      .mockResolvedValueOnce({ messages: 1, entries: 1 });

    await service.purge();

    expect(pause).toHaveBeenCalledTimes(1);
  });

  it('should schedule the sweep and the purge on the maintenance queue and remove the old delivery-queue schedules', async () => {
    await service.schedule();

    expect(maintenance.upsertJobScheduler.mock.calls.map((call) => call[0])).toEqual([
      MAINTENANCE_JOBS.redeliverSweep,
      MAINTENANCE_JOBS.purgeExpired,
    ]);
    expect(deliveries.removeJobScheduler.mock.calls.map((call) => call[0])).toEqual(Object.values(MAINTENANCE_JOBS));
  });
});
