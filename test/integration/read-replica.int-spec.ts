import { Xuid } from '@app/shared/xuid';
import { DeliveryRows } from '../factories/delivery.factory';
import { ApiResponse, inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer, createUser } from '../factories/users.factory';
import { Replica, startReplica } from '../setup/replica';
import { RunningService, startDelivery, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testDatabaseUrl } from '../setup/test-env';

// Long enough that a listing made right after a delivery still sees the paused replica, on a busy machine.
const MAX_LAG_MS = 4000;

/**
 * Inbox listings on a real streaming replica (pg_basebackup -R of the run's
 * Postgres, on its own port, behind a TCP proxy to cut it), everything else
 * on the primary. Pausing the replica's WAL replay shows which server
 * answered: a message delivered after the pause is not listed until the lag
 * bound sends listings to the primary.
 */
describe('inbox listings on a read replica (DATABASE_READ_URL)', () => {
  let replica: Replica;
  let proxy: TcpProxy;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;
  let rows: DeliveryRows;

  beforeAll(async () => {
    replica = await startReplica(testDatabaseUrl());
    proxy = await new TcpProxy('127.0.0.1', replica.port).start();
    [stack, delivery, rows] = await Promise.all([
      startStack({
        gateway: {
          DATABASE_READ_URL: proxy.rewrite(testDatabaseUrl()),
          DATABASE_READ_MAX_LAG_MS: MAX_LAG_MS,
        },
      }),
      startDelivery(),
      DeliveryRows.open(),
    ]);
    await readyWithReplica();
  });

  afterAll(async () => {
    await replica?.resumeReplay().catch(() => undefined);
    await stack?.close();
    await delivery?.close();
    await rows?.close();
    await proxy?.stop();
    await replica?.stop();
  });

  async function readiness(): Promise<{ status: number; body: any }> {
    const response = await fetch(`${stack.gateway.url}/readyz`);
    return { status: response.status, body: await response.json() };
  }

  async function until<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  const readyWithReplica = () =>
    until(
      'readiness with the replica up',
      readiness,
      (r) => r.status === 200 && r.body.status === 'ready' && r.body.checks.replica === 'up',
    );

  async function inbox(xuid: Xuid): Promise<ApiResponse> {
    return request(stack.gateway.url, 'GET', inboxPath(xuid), await bearer(xuid));
  }

  async function summary(xuid: Xuid): Promise<ApiResponse> {
    return request(stack.gateway.url, 'GET', inboxPath(xuid, '/summary'), await bearer(xuid));
  }

  async function replicaReads(): Promise<number> {
    const text = await (await fetch(`${stack.gateway.internalUrl}/metrics`)).text();
    return Number(/^database_reads_total\{target="replica"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  }

  async function deliveredMessage(sender: Xuid, text: string): Promise<string> {
    const [stored] = await until(
      'delivery',
      () =>
        rows.query<{ id: string }>(
          'SELECT id FROM messages WHERE sender_xuid = $1 AND text = $2 AND delivered_at IS NOT NULL',
          [sender, text],
        ),
      (found) => found.length === 1,
    );
    return stored.id;
  }

  it('should list from the replica, and from the primary once the replica lags past DATABASE_READ_MAX_LAG_MS', async () => {
    const [sender, recipient] = await Promise.all([
      createUser(stack.gateway.internalUrl),
      createUser(stack.gateway.internalUrl),
    ]);
    await replica.caughtUp();
    const before = await replicaReads();
    expect((await inbox(recipient.xuid)).body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
    expect(await replicaReads()).toBe(before + 1);

    await replica.pauseReplay();
    expect(
      (await send(stack.gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text: 'behind the replica' })).status,
    ).toBe(200);
    const id = await deliveredMessage(sender.xuid, 'behind the replica');

    // Stored on the primary, not yet replayed: the listing (from the replica) does not show it...
    expect((await inbox(recipient.xuid)).body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
    // ...nor do its counts...
    const replicaBefore = await replicaReads();
    expect((await summary(recipient.xuid)).body).toEqual({ totalItems: 0, unreadItems: 0 });
    expect(await replicaReads()).toBe(replicaBefore + 1);
    // ...while reading it, which marks it read, is the primary's.
    const read = await request(stack.gateway.url, 'GET', inboxPath(recipient.xuid, `/${id}`), await bearer(recipient.xuid));
    expect(read.status).toBe(200);
    expect(read.body.messageText).toBe('behind the replica');

    // Past the bound, listings go to the primary, and readiness says why.
    const degraded = await until('readiness with the replica lagging', readiness, (r) => r.body.checks?.replica === 'down');
    expect(degraded).toEqual({
      status: 200,
      body: {
        status: 'degraded',
        checks: { postgres: 'up', redis: 'up', quota: 'up', replica: 'down' },
        reasons: {
          replica: expect.stringMatching(/^\d+ ms behind the primary \(limit 4000 ms\); listings go to the primary$/),
        },
      },
    });
    const fromPrimary = await inbox(recipient.xuid);
    expect(fromPrimary.body.pagingInfo).toEqual({ continuationToken: null, totalItems: 1 });
    expect(fromPrimary.body.results.map((item: { header: { id: string; isRead: boolean } }) => item.header)).toEqual([
      expect.objectContaining({ id, isRead: true }),
    ]);

    expect((await summary(recipient.xuid)).body).toEqual({ totalItems: 1, unreadItems: 0 });

    await replica.resumeReplay();
    await replica.caughtUp();
    await readyWithReplica();
    const afterCatchUp = await replicaReads();
    expect((await inbox(recipient.xuid)).body).toEqual(fromPrimary.body);
    expect((await summary(recipient.xuid)).body).toEqual({ totalItems: 1, unreadItems: 0 });
    expect(await replicaReads()).toBe(afterCatchUp + 2);
  });

  it('should answer listings from the primary while the replica is cut off, and go back to it when it returns', async () => {
    const [sender, recipient] = await Promise.all([
      createUser(stack.gateway.internalUrl),
      createUser(stack.gateway.internalUrl),
    ]);
    expect((await send(stack.gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text: 'while cut off' })).status).toBe(
      200,
    );
    const id = await deliveredMessage(sender.xuid, 'while cut off');
    await replica.caughtUp();
    const before = await replicaReads();

    await proxy.stop();
    try {
      // The first listing finds the replica gone and is answered by the primary at once.
      const listed = await inbox(recipient.xuid);
      expect(listed.status).toBe(200);
      expect(listed.body.pagingInfo).toEqual({ continuationToken: null, totalItems: 1 });
      expect(listed.body.results[0].header.id).toBe(id);
      const degraded = await until('readiness with the replica down', readiness, (r) => r.body.checks?.replica === 'down');
      expect(degraded).toEqual({
        status: 200,
        body: {
          status: 'degraded',
          checks: { postgres: 'up', redis: 'up', quota: 'up', replica: 'down' },
          reasons: { replica: 'unreachable; listings go to the primary' },
        },
      });
      expect((await inbox(recipient.xuid)).body).toEqual(listed.body);
      expect(await replicaReads()).toBe(before);
    } finally {
      await proxy.start();
    }

    await readyWithReplica();
    expect((await inbox(recipient.xuid)).body.pagingInfo.totalItems).toBe(1);
    expect(await replicaReads()).toBe(before + 1);
  });
});
