import { setTimeout as sleep } from 'node:timers/promises';
import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows, sendAll } from '../factories/delivery.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { bearer, createUser, TestUser, uniqueXuid } from '../factories/users.factory';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, RunningQuota, RunningService, startDelivery, startGateway, startQuota } from '../setup/services';

const SHORT_TTL_SECONDS = 3;

interface Counts {
  totalItems: number;
  unreadItems: number;
}

/**
 * docs/api.md, Inbox summary, Read state and Act on many messages: the counts
 * stay exact through sends (delivered by a real worker), reads, read-state
 * changes, batch actions, deletes, expiry and the purge. Two gateways share
 * one quota and one worker: one gives messages a lifetime of seconds.
 */
describe('inbox counts, read state and batch actions', () => {
  const prefix = privateRedisPrefix('read-state');
  let quota: RunningQuota;
  let gateway: RunningGateway;
  let shortLived: RunningService;
  let worker: RunningService;
  let rows: DeliveryRows;

  beforeAll(async () => {
    quota = await startQuota({ REDIS_PREFIX: prefix });
    const common = { QUOTA_PORT: quota.rpcPort, REDIS_PREFIX: prefix };
    [gateway, shortLived, worker, rows] = await Promise.all([
      startGateway(common),
      startGateway({ ...common, MESSAGE_TTL_SECONDS: SHORT_TTL_SECONDS }),
      startDelivery({ REDIS_PREFIX: prefix, PURGE_INTERVAL_SECONDS: 1 }),
      DeliveryRows.open(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([worker, shortLived, gateway].map((service) => service?.close()));
    await quota?.close();
    await rows?.close();
    await deleteRedisKeys(prefix);
  });

  async function call(method: string, owner: Xuid, path: string, body?: unknown, as: Xuid = owner) {
    const headers: Record<string, string> = { ...(await bearer(as)) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${gateway.url}${inboxPath(owner, path)}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  }

  const readState = (owner: Xuid, id: string, isRead: unknown) => call('PUT', owner, `/${id}/read-state`, { isRead });
  const batch = (owner: Xuid, action: string, messageIds: unknown) => call('POST', owner, '/batch', { action, messageIds });

  /** What the summary says, checked against the rows: the counters equal the entries, expired ones included. */
  async function counts(owner: Xuid): Promise<Counts> {
    const summary = await call('GET', owner, '/summary');
    expect(summary.status).toBe(200);
    expect(summary.headers.get('cache-control')).toBe('no-store');
    const [truth] = await rows.query<{ live: number; liveUnread: number; all: number; allUnread: number }>(
      `SELECT count(*) FILTER (WHERE expiration > now())::int AS live,
              count(*) FILTER (WHERE expiration > now() AND NOT is_read)::int AS "liveUnread",
              count(*)::int AS all, count(*) FILTER (WHERE NOT is_read)::int AS "allUnread"
         FROM inbox_entries WHERE recipient_xuid = $1`,
      [owner],
    );
    const [counter] = await rows.query<{ total_items: number; unread_items: number }>(
      `SELECT total_items, unread_items FROM inbox_counters WHERE recipient_xuid = $1`,
      [owner],
    );
    expect({ total: counter?.total_items ?? 0, unread: counter?.unread_items ?? 0 }).toEqual({
      total: truth.all,
      unread: truth.allUnread,
    });
    expect(summary.body).toStrictEqual({ totalItems: truth.live, unreadItems: truth.liveUnread });
    const listing = await request(gateway.url, 'GET', inboxPath(owner, '?maxItems=100'), await bearer(owner));
    expect(listing.body.pagingInfo.totalItems).toBe(summary.body.totalItems);
    expect(listing.body.results.filter((item: any) => !item.header.isRead)).toHaveLength(summary.body.unreadItems);
    return summary.body;
  }

  async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  it('should keep totalItems and unreadItems exact through sends, reads, marks, batches, deletes, expiry and purge', async () => {
    const sender = await createUser(gateway.internalUrl);
    const owner = (await createUser(gateway.internalUrl)).xuid;
    expect(await counts(owner)).toEqual({ totalItems: 0, unreadItems: 0 });

    const to = (texts: string[]) => texts.map((text) => ({ sender: sender.xuid, recipients: [owner], text }));
    await sendAll(gateway.url, to(['long 1', 'long 2', 'long 3']), 1);
    await sendAll(shortLived.url, to(['short 1', 'short 2']), 1);
    const [l1, l2, l3, s1, s2] = await rows.messageIdsOf([sender.xuid]);
    await rows.waitDelivered([l1, l2, l3, s1, s2]);
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 5 });

    // Reading marks read once.
    expect((await call('GET', owner, `/${l1}`)).status).toBe(200);
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 4 });
    expect((await call('GET', owner, `/${l1}`)).status).toBe(200);
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 4 });

    // Read state without fetching, idempotent.
    for (let i = 0; i < 2; i++) {
      const response = await readState(owner, l1, false);
      expect({ status: response.status, body: response.body }).toEqual({ status: 204, body: undefined });
      expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 5 });
    }
    expect((await readState(owner, l2, true)).status).toBe(204);
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 4 });

    // Batches answer what changed; unknown ids and repeats change nothing.
    const unknown = 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ';
    expect(await batch(owner, 'markRead', [l3, l1, l2, unknown, l1])).toMatchObject({
      status: 200,
      body: { changedIds: [l1, l3].sort() },
    });
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 2 });
    expect(await batch(owner, 'markRead', [l1, l2, l3])).toMatchObject({ status: 200, body: { changedIds: [] } });
    expect(await batch(owner, 'markUnread', [l3])).toMatchObject({ status: 200, body: { changedIds: [l3] } });
    expect(await counts(owner)).toEqual({ totalItems: 5, unreadItems: 3 });

    // A single delete of an unread message takes it from both counts, once.
    expect((await call('DELETE', owner, `/${l3}`)).status).toBe(204);
    expect((await call('DELETE', owner, `/${l3}`)).status).toBe(204);
    expect(await counts(owner)).toEqual({ totalItems: 4, unreadItems: 2 });
    expect(await batch(owner, 'markRead', [s1])).toMatchObject({ status: 200, body: { changedIds: [s1] } });
    expect(await counts(owner)).toEqual({ totalItems: 4, unreadItems: 1 });

    // Expired but not purged yet: gone from both counts, and marks pass over it.
    const release = await rows.shieldFromPurge([s1, s2]);
    try {
      // Poll the summary alone: the two expire a moment apart, so a check that
      // compares the summary with a listing taken after it can see one expire
      // in between. Once both have expired the figures hold still.
      await waitFor(
        async () => (await call('GET', owner, '/summary')).body.totalItems === 2,
        'the short-lived messages to expire',
      );
      expect(await counts(owner)).toEqual({ totalItems: 2, unreadItems: 0 });
      expect((await readState(owner, s2, true)).body).toEqual({
        errorSource: 'inbox',
        errorCode: ERRORS.MESSAGE_NOT_FOUND.code,
        errorMessage: ERRORS.MESSAGE_NOT_FOUND.message,
      });
      expect(await batch(owner, 'markUnread', [s1, s2])).toMatchObject({ status: 200, body: { changedIds: [] } });
      expect(await counts(owner)).toEqual({ totalItems: 2, unreadItems: 0 });
    } finally {
      await release();
    }
    // The purge removes them with the counters in step.
    await waitFor(async () => (await rows.inboxes([owner])).get(owner)!.length === 2, 'the purge');
    expect(await counts(owner)).toEqual({ totalItems: 2, unreadItems: 0 });

    expect(await batch(owner, 'markUnread', [l1])).toMatchObject({ status: 200, body: { changedIds: [l1] } });
    expect(await batch(owner, 'delete', [l2, unknown, l1])).toMatchObject({
      status: 200,
      body: { changedIds: [l1, l2].sort() },
    });
    expect(await counts(owner)).toEqual({ totalItems: 0, unreadItems: 0 });
    expect(await batch(owner, 'delete', [l1, l2])).toMatchObject({ status: 200, body: { changedIds: [] } });
    expect(await counts(owner)).toEqual({ totalItems: 0, unreadItems: 0 });
  });

  it('should keep the counts exact under concurrent marks, reads and deletes of the same messages', async () => {
    const sender = await createUser(gateway.internalUrl);
    const owner = (await createUser(gateway.internalUrl)).xuid;
    await sendAll(
      gateway.url,
      Array.from({ length: 12 }, (_, i) => ({ sender: sender.xuid, recipients: [owner], text: `burst ${i}` })),
      4,
    );
    const ids = await rows.messageIdsOf([sender.xuid]);
    await rows.waitDelivered(ids);
    const calls: Promise<unknown>[] = [];
    for (let round = 0; round < 8; round++) {
      calls.push(batch(owner, 'markRead', ids), batch(owner, 'markUnread', ids.slice(3)));
      for (const id of ids.slice(0, 4)) calls.push(readState(owner, id, round % 2 === 0), call('GET', owner, `/${id}`));
    }
    // Deletes racing the marks of the same rows: each must find the row's new
    // version (a lookup by row address would skip a row updated meanwhile).
    const deleted = batch(owner, 'delete', ids.slice(8));
    calls.push(deleted, call('DELETE', owner, `/${ids[7]}`));
    await Promise.all(calls);
    expect((await deleted).body).toEqual({ changedIds: ids.slice(8).sort() });
    expect((await rows.inboxes([owner])).get(owner)!.length).toBe(7);
    const after = await counts(owner);
    expect(after.totalItems).toBe(7);
  });

  it('should mark and delete entries that another transaction is rewriting at that moment', async () => {
    const sender = await createUser(gateway.internalUrl);
    const owner = (await createUser(gateway.internalUrl)).xuid;
    await sendAll(
      gateway.url,
      Array.from({ length: 3 }, (_, i) => ({ sender: sender.xuid, recipients: [owner], text: `held ${i}` })),
      1,
    );
    const ids = await rows.messageIdsOf([sender.xuid]);
    await rows.waitDelivered(ids);
    const release = await rows.rewriteEntries(owner, ids);
    const marking = batch(owner, 'markRead', ids.slice(0, 2));
    const deleting = batch(owner, 'delete', [ids[2]]);
    // Both wait on the row locks; after the commit each must find the rows' new versions.
    await sleep(300);
    await release();
    expect(await marking).toMatchObject({ status: 200, body: { changedIds: ids.slice(0, 2) } });
    expect(await deleting).toMatchObject({ status: 200, body: { changedIds: [ids[2]] } });
    expect(await counts(owner)).toEqual({ totalItems: 2, unreadItems: 0 });
  });

  describe('refusals', () => {
    let owner: TestUser;
    let messageId: string;

    beforeAll(async () => {
      owner = await createUser(gateway.internalUrl);
      const sender = await createUser(gateway.internalUrl);
      await sendAll(gateway.url, [{ sender: sender.xuid, recipients: [owner.xuid], text: 'refusals' }]);
      [messageId] = await rows.messageIdsOf([sender.xuid]);
      await rows.waitDelivered([messageId]);
    });

    const error = (definition: { code: number; source: string; message: string }, errorMessage = definition.message) => ({
      errorSource: definition.source,
      errorCode: definition.code,
      errorMessage,
    });

    it("should refuse another player's summary, read state and batch with 403, changing nothing", async () => {
      const other = uniqueXuid();
      const forbidden = { status: 403, body: error(ERRORS.FORBIDDEN_USER) };
      expect(await call('GET', owner.xuid, '/summary', undefined, other)).toMatchObject(forbidden);
      expect(await call('PUT', owner.xuid, `/${messageId}/read-state`, { isRead: true }, other)).toMatchObject(forbidden);
      expect(await call('POST', owner.xuid, '/batch', { action: 'delete', messageIds: [messageId] }, other)).toMatchObject(
        forbidden,
      );
      expect(await counts(owner.xuid)).toEqual({ totalItems: 1, unreadItems: 1 });
    });

    it('should answer a bad read-state body 400 (6010), a malformed id 404 (6005) and a missing message 404 (6006)', async () => {
      for (const body of [{ isRead: 'yes' }, {}, [true], null]) {
        const response = await call('PUT', owner.xuid, `/${messageId}/read-state`, body === null ? 'null' : body);
        expect({ status: response.status, code: response.body.errorCode }).toEqual({ status: 400, code: 6010 });
      }
      expect((await readState(owner.xuid, messageId, 1)).body.errorMessage).toBe(
        'isRead must be true or false; it is a number. Send {"isRead":true} or {"isRead":false}.',
      );
      expect(await readState(owner.xuid, 'bad*id', true)).toMatchObject({
        status: 404,
        body: error(ERRORS.MESSAGE_ID_INVALID),
      });
      expect(await readState(owner.xuid, 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ', true)).toMatchObject({
        status: 404,
        body: error(ERRORS.MESSAGE_NOT_FOUND),
      });
      expect(await counts(owner.xuid)).toEqual({ totalItems: 1, unreadItems: 1 });
    });

    it('should answer a bad batch 400 naming the entry, and more than 100 ids 400, changing nothing', async () => {
      expect(await batch(owner.xuid, 'markRead', [messageId, messageId, 'no spaces'])).toMatchObject({
        status: 400,
        body: error(
          ERRORS.BATCH_MESSAGE_IDS_INVALID,
          'messageIds[2] must be a message id, 1..50 characters of A-Z, a-z, 0-9, "_" or "-"; it is "no spaces".',
        ),
      });
      expect(await batch(owner.xuid, 'delete', [messageId, 7])).toMatchObject({
        status: 400,
        body: error(
          ERRORS.BATCH_MESSAGE_IDS_INVALID,
          'messageIds[1] must be a message id, 1..50 characters of A-Z, a-z, 0-9, "_" or "-"; it is a number.',
        ),
      });
      const many = Array.from({ length: 101 }, (_, i) => `id${i}`);
      expect(await batch(owner.xuid, 'delete', [messageId, ...many.slice(1)])).toMatchObject({
        status: 400,
        body: error(ERRORS.BATCH_MESSAGE_IDS_INVALID, 'messageIds must be a list of 1 to 100 message ids; 101 were given.'),
      });
      expect(await batch(owner.xuid, 'delete', [])).toMatchObject({
        status: 400,
        body: error(ERRORS.BATCH_MESSAGE_IDS_INVALID, 'messageIds must be a list of 1 to 100 message ids; 0 were given.'),
      });
      expect(await batch(owner.xuid, 'archive', [messageId])).toMatchObject({
        status: 400,
        body: error(ERRORS.BATCH_BODY_INVALID, 'action must be "delete", "markRead" or "markUnread"; it is "archive".'),
      });
      expect(await call('POST', owner.xuid, '/batch', [])).toMatchObject({
        status: 400,
        body: error(ERRORS.BATCH_BODY_INVALID, `${ERRORS.BATCH_BODY_INVALID.message} The body is a list.`),
      });
      expect(await call('POST', owner.xuid, '/batch', '{"action":')).toMatchObject({ status: 400, body: { errorCode: 1002 } });
      expect(
        await batch(
          owner.xuid,
          'delete',
          Array.from({ length: 100 }, (_, i) => `id${i}`),
        ),
      ).toMatchObject({
        status: 200,
        body: { changedIds: [] },
      });
      expect(await counts(owner.xuid)).toEqual({ totalItems: 1, unreadItems: 1 });
    });
  });
});
