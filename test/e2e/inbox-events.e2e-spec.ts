import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { postSystemMessage, waitForBroadcast } from '../factories/broadcast.factory';
import { DeliveryRows } from '../factories/delivery.factory';
import { errorBodyOf, openEventStream, OpenedStream } from '../factories/event-stream.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer, createUser, TestUser } from '../factories/users.factory';
import { cleanupsAfterEach } from '../setup/cleanups';
import { RunningGateway, RunningService, startDelivery, startGateway, startStack } from '../setup/services';

/**
 * GET /users/xuid({xuid})/inbox/events (docs/api.md, Inbox events), with
 * real clients over HTTP, a real delivery worker, and Redis pub/sub between
 * them; two gateway replicas where the case needs them.
 */
describe('GET /users/xuid({xuid})/inbox/events', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;
  let rows: DeliveryRows;
  let url: string;
  let adminUrl: string;
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    [stack, delivery, rows] = await Promise.all([startStack(), startDelivery(), DeliveryRows.open()]);
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
  });

  afterAll(async () => {
    await delivery?.close();
    await stack?.close();
    await rows?.close();
  });

  const errorBody = (definition: { source: string; code: number }) => ({
    errorSource: definition.source,
    errorCode: definition.code,
    errorMessage: expect.any(String),
  });

  async function stream(baseUrl: string, xuid: Xuid, headers?: Record<string, string>): Promise<OpenedStream> {
    const opened = await openEventStream(baseUrl, xuid, headers);
    cleanups.push(() => Promise.resolve(opened.close()));
    expect(opened.status).toBe(200);
    return opened;
  }

  /** Sends one message through `baseUrl`; its stored id. */
  async function sendText(baseUrl: string, sender: TestUser, to: TestUser[], text: string): Promise<string> {
    const response = await send(
      baseUrl,
      sender.xuid,
      to.map((user) => ({ xuid: user.xuid })),
      { text },
    );
    expect(response.status).toBe(200);
    const [stored] = await rows.query<{ id: string }>(`SELECT id FROM messages WHERE sender_xuid = $1 AND text = $2`, [
      sender.xuid,
      text,
    ]);
    return stored.id;
  }

  async function listed(owner: Xuid): Promise<any[]> {
    const response = await request(url, 'GET', inboxPath(owner, '?maxItems=100'), await bearer(owner));
    expect(response.status).toBe(200);
    return response.body.results;
  }

  describe('refusals', () => {
    it("should answer 403 when the path names another player's inbox", async () => {
      const [owner, other] = [await createUser(adminUrl), await createUser(adminUrl)];
      expect(await errorBodyOf(url, other.xuid, await bearer(owner.xuid))).toEqual({
        status: 403,
        body: errorBody(ERRORS.FORBIDDEN_USER),
      });
    });

    it('should answer 401 when there is no token', async () => {
      const owner = await createUser(adminUrl);
      expect(await errorBodyOf(url, owner.xuid, {})).toEqual({ status: 401, body: errorBody(ERRORS.TOKEN_MISSING) });
    });

    it.each([
      ['garbage', 'not-an-event-id'],
      ['an empty-looking id', '%%%'],
      ['a continuation-token-sized blob', 'AQRkZXYx' + 'A'.repeat(40)],
    ])('should answer 400 (6020) when Last-Event-ID is %s', async (_label, id) => {
      const owner = await createUser(adminUrl);
      expect(await errorBodyOf(url, owner.xuid, { ...(await bearer(owner.xuid)), 'last-event-id': id })).toEqual({
        status: 400,
        body: errorBody(ERRORS.EVENT_ID_INVALID),
      });
    });

    it("should answer 400 (6020) when Last-Event-ID is another inbox's event id", async () => {
      const [owner, other] = [await createUser(adminUrl), await createUser(adminUrl)];
      const theirs = await stream(url, other.xuid);
      const { id } = await theirs.next('ready');

      expect(await errorBodyOf(url, owner.xuid, { ...(await bearer(owner.xuid)), 'last-event-id': id })).toEqual({
        status: 400,
        body: errorBody(ERRORS.EVENT_ID_INVALID),
      });
    });
  });

  describe('live events', () => {
    it('should send a new message to its recipient as the listing shows it, and to no one else', async () => {
      const [sender, recipient, bystander] = [
        await createUser(adminUrl),
        await createUser(adminUrl),
        await createUser(adminUrl),
      ];
      const mine = await stream(url, recipient.xuid);
      const theirs = await stream(url, bystander.xuid);
      expect(mine.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(mine.headers['cache-control']).toBe('no-store');
      expect(mine.headers['x-accel-buffering']).toBe('no');
      expect((await mine.next()).event).toBe('ready');
      expect((await theirs.next()).event).toBe('ready');

      const id = await sendText(url, sender, [recipient], 'live one');
      const event = await mine.next();

      expect(event.event).toBe('message');
      const [item] = await listed(recipient.xuid);
      expect(JSON.parse(event.data)).toStrictEqual({ ...item, header: { ...item.header, isRead: false } });
      expect(item.header.id).toBe(id);
      // The bystander's next message event is their own: the recipient's never reached them.
      const own = await sendText(url, sender, [bystander], 'for the bystander');
      const next = await theirs.next();
      expect({ event: next.event, id: JSON.parse(next.data).header.id }).toEqual({ event: 'message', id: own });
    });

    it('should relay a message sent through one replica to a stream open on another', async () => {
      const second: RunningGateway = await startGateway({ QUOTA_PORT: stack.quota.rpcPort });
      cleanups.push(() => second.close());
      const [sender, recipient] = [await createUser(adminUrl), await createUser(adminUrl)];
      const onSecond = await stream(second.url, recipient.xuid);
      await onSecond.next('ready');

      const id = await sendText(url, sender, [recipient], 'across replicas');

      const event = await onSecond.next();
      expect({ event: event.event, id: JSON.parse(event.data).header.id }).toEqual({ event: 'message', id });
    });

    it("should relay a system message to each recipient's stream on every replica, and to no one else", async () => {
      const second: RunningGateway = await startGateway({ QUOTA_PORT: stack.quota.rpcPort });
      cleanups.push(() => second.close());
      const [onFirst, onSecond, bystander, sender] = [
        await createUser(adminUrl),
        await createUser(adminUrl),
        await createUser(adminUrl),
        await createUser(adminUrl),
      ];
      const first = await stream(url, onFirst.xuid);
      const other = await stream(second.url, onSecond.xuid);
      const theirs = await stream(url, bystander.xuid);
      for (const opened of [first, other, theirs]) await opened.next('ready');

      const posted = await postSystemMessage(adminUrl, {
        subject: 'Patch notes',
        messageText: 'Season two is live.',
        recipients: [onFirst.xuid, onSecond.xuid],
      });
      expect(posted.status).toBe(202);
      await waitForBroadcast(adminUrl, posted.body.id, (body) => body.state === 'done');

      for (const [opened, owner] of [
        [first, onFirst],
        [other, onSecond],
      ] as const) {
        const event = await opened.next();
        expect(event.event).toBe('message');
        const [item] = await listed(owner.xuid);
        expect(JSON.parse(event.data)).toStrictEqual({ ...item, header: { ...item.header, isRead: false } });
        expect(item.header).toMatchObject({ id: posted.body.id, messageType: 'System' });
        expect(item.messageSummary).toBe('Patch notes');
      }
      const own = await sendText(url, sender, [bystander], 'for the bystander, after the broadcast');
      const next = await theirs.next();
      expect({ event: next.event, id: JSON.parse(next.data).header.id }).toEqual({ event: 'message', id: own });
    });

    it('should tell every stream of the player when one device reads or deletes a message', async () => {
      const [sender, recipient] = [await createUser(adminUrl), await createUser(adminUrl)];
      const phone = await stream(url, recipient.xuid);
      const consoleStream = await stream(url, recipient.xuid);
      const id = await sendText(url, sender, [recipient], 'read me');
      await phone.next('message');
      await consoleStream.next('message');

      expect((await request(url, 'GET', inboxPath(recipient.xuid, `/${id}`), await bearer(recipient.xuid))).status).toBe(200);
      for (const s of [phone, consoleStream]) expect(JSON.parse((await s.next('read')).data)).toEqual({ id });
      // Reading it again changes nothing, so it says nothing; the delete is the next event.
      expect((await request(url, 'GET', inboxPath(recipient.xuid, `/${id}`), await bearer(recipient.xuid))).status).toBe(200);
      expect((await request(url, 'DELETE', inboxPath(recipient.xuid, `/${id}`), await bearer(recipient.xuid))).status).toBe(
        204,
      );
      for (const s of [phone, consoleStream]) {
        const next = await s.next();
        expect({ event: next.event, data: JSON.parse(next.data) }).toEqual({ event: 'deleted', data: { id } });
      }
    });
    it('should push read state changes and batch actions as read, unread and deleted events, for what changed only', async () => {
      const [sender, recipient] = [await createUser(adminUrl), await createUser(adminUrl)];
      const phone = await stream(url, recipient.xuid);
      const ids = [
        await sendText(url, sender, [recipient], 'batch one'),
        await sendText(url, sender, [recipient], 'batch two'),
        await sendText(url, sender, [recipient], 'batch three'),
      ].sort();
      for (let i = 0; i < ids.length; i++) await phone.next('message');
      const change = async (method: 'PUT' | 'POST', path: string, body: unknown): Promise<number> =>
        (
          await fetch(`${url}${inboxPath(recipient.xuid, path)}`, {
            method,
            headers: { ...(await bearer(recipient.xuid)), 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
        ).status;
      const nextOf = async (): Promise<{ event: string; data: unknown }> => {
        const next = await phone.next();
        return { event: next.event, data: JSON.parse(next.data) };
      };

      expect(await change('PUT', `/${ids[0]}/read-state`, { isRead: true })).toBe(204);
      expect(await nextOf()).toEqual({ event: 'read', data: { id: ids[0] } });
      // Marking it read again changes nothing and says nothing: the batch's events come next, one per id it changed.
      expect(await change('PUT', `/${ids[0]}/read-state`, { isRead: true })).toBe(204);
      expect(await change('POST', '/batch', { action: 'markRead', messageIds: ids })).toBe(200);
      expect([await nextOf(), await nextOf()]).toEqual([
        { event: 'read', data: { id: ids[1] } },
        { event: 'read', data: { id: ids[2] } },
      ]);
      expect(await change('PUT', `/${ids[1]}/read-state`, { isRead: false })).toBe(204);
      expect(await nextOf()).toEqual({ event: 'unread', data: { id: ids[1] } });
      expect(await change('POST', '/batch', { action: 'delete', messageIds: [ids[2], ids[0]] })).toBe(200);
      expect([await nextOf(), await nextOf()]).toEqual([
        { event: 'deleted', data: { id: ids[0] } },
        { event: 'deleted', data: { id: ids[2] } },
      ]);
    });
  });

  describe('reconnecting with Last-Event-ID', () => {
    it('should replay exactly the 50 messages missed, in delivery order, then carry on live', async () => {
      const [sender, recipient] = [await createUser(adminUrl), await createUser(adminUrl)];
      const first = await stream(url, recipient.xuid);
      await sendText(url, sender, [recipient], 'seen before the drop');
      const seen = await first.next('message');
      first.close();
      await first.ended;

      const missed: string[] = [];
      for (let i = 0; i < 50; i++) missed.push(await sendText(url, sender, [recipient], `missed ${i}`));
      await rows.waitDelivered(missed);

      const again = await stream(url, recipient.xuid, { ...(await bearer(recipient.xuid)), 'last-event-id': seen.id });
      expect(await again.next()).toEqual({ event: 'ready', id: seen.id, data: '{}' });
      const replayed: StreamEvent[] = [];
      for (let i = 0; i < 50; i++) replayed.push(await again.next());
      const live = await sendText(url, sender, [recipient], 'after the replay');
      const next = await again.next();

      expect(replayed.map((event) => event.event)).toEqual(Array(50).fill('message'));
      const sequenceOrder = await rows.query<{ message_id: string }>(
        `SELECT message_id FROM inbox_entries WHERE recipient_xuid = $1 AND message_id = ANY($2::varchar[]) ORDER BY sequence`,
        [recipient.xuid, missed],
      );
      expect(replayed.map((event) => JSON.parse(event.data).header.id)).toEqual(sequenceOrder.map((row) => row.message_id));
      expect(new Set(replayed.map((event) => JSON.parse(event.data).header.id))).toEqual(new Set(missed));
      expect(new Set(replayed.map((event) => event.id)).size).toBe(50);
      expect({ event: next.event, id: JSON.parse(next.data).header.id }).toEqual({ event: 'message', id: live });
    });

    it('should replay nothing when the client missed nothing', async () => {
      const [sender, recipient] = [await createUser(adminUrl), await createUser(adminUrl)];
      const first = await stream(url, recipient.xuid);
      await sendText(url, sender, [recipient], 'only one');
      const seen = await first.next('message');
      first.close();

      const again = await stream(url, recipient.xuid, { ...(await bearer(recipient.xuid)), 'last-event-id': seen.id });
      await again.next('ready');
      const live = await sendText(url, sender, [recipient], 'the next one');
      const next = await again.next();
      expect({ event: next.event, id: JSON.parse(next.data).header.id }).toEqual({ event: 'message', id: live });
    });
  });

  describe('limits and lifecycle', () => {
    it('should close the oldest stream of a player past INBOX_STREAMS_PER_USER, on any replica', async () => {
      const limited = await startGateway({ QUOTA_PORT: stack.quota.rpcPort, INBOX_STREAMS_PER_USER: 2 });
      cleanups.push(() => limited.close());
      const player = await createUser(adminUrl);
      const oldest = await stream(limited.url, player.xuid);
      await oldest.next('ready');
      const middle = await stream(url, player.xuid);
      await middle.next('ready');

      const newest = await stream(limited.url, player.xuid);
      await newest.next('ready');

      expect(JSON.parse((await oldest.next('closed')).data)).toEqual({ reason: 'superseded' });
      await oldest.ended;
      expect(middle.events.map((event) => event.event)).toEqual(['ready']);
    });

    it('should end its streams with a closed event when the gateway shuts down, and close promptly', async () => {
      const leaving = await startGateway({ QUOTA_PORT: stack.quota.rpcPort });
      const player = await createUser(adminUrl);
      const open = await stream(leaving.url, player.xuid);
      await open.next('ready');

      await leaving.close();

      expect(JSON.parse((await open.next('closed')).data)).toEqual({ reason: 'shutdown' });
      await open.ended;
    });

    it('should send heartbeat comments', async () => {
      const beating = await startGateway({ QUOTA_PORT: stack.quota.rpcPort, INBOX_STREAM_HEARTBEAT_SECONDS: 1 });
      cleanups.push(() => beating.close());
      const player = await createUser(adminUrl);
      const open = await stream(beating.url, player.xuid);
      await open.next('ready');
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (open.comments.includes('heartbeat')) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
      });
      expect(open.comments[0]).toBe('heartbeat');
    });
  });
});

type StreamEvent = Awaited<ReturnType<OpenedStream['next']>>;
