import { Logger } from '@nestjs/common';
import { WorkerErrorLog } from './worker-error-log';

describe('WorkerErrorLog', () => {
  it('should log each kind of worker error once while it repeats, and again once it changes', () => {
    const logger = { warn: jest.fn() } as unknown as Logger & { warn: jest.Mock };
    const log = new WorkerErrorLog(logger, 'delivery');

    for (const message of [
      'Connection is closed.',
      'Connection is closed.',
      'CLUSTERDOWN',
      'CLUSTERDOWN',
      'Connection is closed.',
    ])
      log.note(new Error(message));

    expect(logger.warn.mock.calls).toEqual([
      ["The delivery worker's Redis connection failed: Connection is closed."],
      ["The delivery worker's Redis connection failed: CLUSTERDOWN"],
      ["The delivery worker's Redis connection failed: Connection is closed."],
    ]);
  });
});
