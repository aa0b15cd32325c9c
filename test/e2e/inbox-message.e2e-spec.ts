import { MessageType } from '@app/shared/database/entities/message.entity';
import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { expectedDetail, expectedItem, InboxFactory, inboxPath, messageIdAt, request } from '../factories/inbox.factory';
import { bearer, uniqueGamertag, uniqueXuid } from '../factories/users.factory';
import { startStack } from '../setup/services';

const DAY_MS = 86_400_000;

describe('GET and DELETE /users/xuid({xuid})/inbox/{messageId}', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let factory: InboxFactory;
  let url: string;

  beforeAll(async () => {
    [stack, factory] = await Promise.all([startStack(), InboxFactory.create()]);
    url = stack.gateway.url;
  });

  afterAll(async () => {
    await stack?.close();
    await factory?.close();
  });

  async function call(method: 'GET' | 'DELETE', owner: Xuid, messageId: string, headers?: Record<string, string>) {
    return request(url, method, inboxPath(owner, `/${messageId}`), headers ?? (await bearer(owner)));
  }

  async function listing(owner: Xuid) {
    return (await request(url, 'GET', inboxPath(owner, '?maxItems=100'), await bearer(owner))).body;
  }

  const notFound = {
    errorSource: 'inbox',
    errorCode: ERRORS.MESSAGE_NOT_FOUND.code,
    errorMessage: ERRORS.MESSAGE_NOT_FOUND.message,
  };
  const malformedId = {
    errorSource: 'inbox',
    errorCode: ERRORS.MESSAGE_ID_INVALID.code,
    errorMessage: ERRORS.MESSAGE_ID_INVALID.message,
  };
  const expiredSpec = () => ({ sent: new Date(Date.now() - 31 * DAY_MS), expiration: new Date(Date.now() - 1) });

  describe('GET (detail)', () => {
    it('should return exactly the contract body with the whole text when the message is in the inbox', async () => {
      const owner = uniqueXuid();
      const sender = await factory.sender(uniqueGamertag('Striker'));
      const text = `${'🎮'.repeat(30)} the whole text, well past twenty characters`;
      const [message] = await factory.deliver(owner, [
        { sender, text, sent: new Date(Date.UTC(2031, 4, 8, 17, 30)), expiration: new Date(Date.UTC(2031, 5, 7, 17, 30)) },
      ]);

      const response = await call('GET', owner, message.id);

      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toStrictEqual({
        header: {
          sent: '2031-05-08T17:30:00.000Z',
          expiration: '2031-06-07T17:30:00.000Z',
          messageType: 'User',
          senderXuid: sender.xuid,
          sender: sender.gamertag,
          hasAudio: false,
          hasPhoto: false,
          hasText: true,
          messageFolderType: 'Inbox',
        },
        messageText: text,
        attachmentId: null,
        attachment: null,
      });
      expect(response.text).toContain(`"senderXuid":"${sender.xuid}"`);
    });

    it('should return the type and text of a system message when it is read', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [
        { type: MessageType.System, subject: 'LIVE System', text: 'Maintenance tonight.' },
      ]);

      const response = await call('GET', owner, message.id);

      expect(response.body).toEqual(expectedDetail(message));
      expect(response.body.header.messageType).toBe('System');
    });

    it('should mark the message read when its detail is fetched, and only that one', async () => {
      const owner = uniqueXuid();
      const [read, unread] = await factory.deliver(owner, [{}, {}]);
      expect((await listing(owner)).results).toEqual([expectedItem(read, false), expectedItem(unread, false)]);

      const first = await call('GET', owner, read.id);
      const second = await call('GET', owner, read.id);

      expect(first.status).toBe(200);
      expect(second.body).toEqual(first.body);
      expect((await listing(owner)).results).toEqual([expectedItem(read, true), expectedItem(unread, false)]);
      expect(await factory.entry(owner, read.id)).toEqual({ is_read: true });
      expect(await factory.entry(owner, unread.id)).toEqual({ is_read: false });
    });

    it("should answer 404 with the same body for another inbox's message as for one that never existed", async () => {
      const owner = uniqueXuid();
      const other = uniqueXuid();
      const [theirs] = await factory.deliver(other, [{}]);

      const foreign = await call('GET', owner, theirs.id);
      const missing = await call('GET', owner, messageIdAt(Date.now()));

      expect(foreign.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(foreign.body).toEqual(notFound);
      expect(foreign.text).toBe(missing.text);
      expect(foreign.headers.get('cache-control')).toBe('no-store');
      expect(await factory.entry(other, theirs.id)).toEqual({ is_read: false });
    });

    it('should answer 404 when the message has expired but is not purged yet', async () => {
      const owner = uniqueXuid();
      const [expired] = await factory.deliver(owner, [expiredSpec()]);

      const response = await call('GET', owner, expired.id);

      expect(response.status).toBe(404);
      expect(response.body).toEqual(notFound);
      expect(await factory.entry(owner, expired.id)).toEqual({ is_read: false });
    });

    it.each([
      ['over 50 characters', 'A'.repeat(51)],
      ['a dot', 'abc.def'],
      ['a space', 'abc%20def'],
      ['an encoded slash', 'abc%2Fdef'],
      ['an emoji', '%F0%9F%98%80'],
      ['a plus sign', 'abc+def'],
    ])('should answer 404 when the message id has %s', async (_, messageId) => {
      const response = await call('GET', uniqueXuid(), messageId);

      expect(response.status).toBe(404);
      expect(response.body).toEqual(malformedId);
    });

    it('should accept a 50-character id when looking it up', async () => {
      const response = await call('GET', uniqueXuid(), 'A'.repeat(50));

      expect(response.status).toBe(404);
      expect(response.body).toEqual(notFound);
    });

    it('should answer 401, 403 and 404 for the path as the listing does', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}]);

      const noToken = await call('GET', owner, message.id, {});
      const otherUser = await call('GET', owner, message.id, await bearer(uniqueXuid()));
      const badPath = await request(url, 'GET', `/users/xuid(abc)/inbox/${message.id}`, await bearer(owner));

      expect(noToken.status).toBe(401);
      expect(otherUser.status).toBe(403);
      expect(otherUser.body.errorCode).toBe(ERRORS.FORBIDDEN_USER.code);
      expect(badPath.status).toBe(404);
      expect(badPath.body.errorCode).toBe(ERRORS.INBOX_XUID_INVALID.code);
      expect(await factory.entry(owner, message.id)).toEqual({ is_read: false });
    });
  });

  describe('DELETE', () => {
    it('should answer 204 and remove the message when it is in the inbox', async () => {
      const owner = uniqueXuid();
      const [gone, kept] = await factory.deliver(owner, [{}, {}]);

      const response = await call('DELETE', owner, gone.id);

      expect(response.status).toBe(204);
      expect(response.text).toBe('');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await factory.entry(owner, gone.id)).toBeNull();
      expect(await factory.counter(owner)).toBe(1);
      expect(await listing(owner)).toEqual({
        results: [expectedItem(kept)],
        pagingInfo: { continuationToken: null, totalItems: 1 },
      });
    });

    it('should answer 204 twice and decrement the counter once when the same message is deleted twice', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}, {}, {}]);

      const first = await call('DELETE', owner, message.id);
      const second = await call('DELETE', owner, message.id);

      expect([first.status, second.status]).toEqual([204, 204]);
      expect(await factory.counter(owner)).toBe(2);
    });

    it('should answer 404 for the detail when the message was deleted', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}]);

      await call('DELETE', owner, message.id);
      const response = await call('GET', owner, message.id);

      expect(response.status).toBe(404);
      expect(response.body).toEqual(notFound);
    });

    it('should keep the counter consistent when many deletes of one message race', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}, {}]);
      const headers = await bearer(owner);

      const statuses = await Promise.all(
        Array.from({ length: 8 }, async () => (await call('DELETE', owner, message.id, headers)).status),
      );

      expect(statuses).toEqual(Array(8).fill(204));
      expect(await factory.counter(owner)).toBe(1);
    });

    it("should answer 204 and leave the other inbox alone when the id is another user's message", async () => {
      const owner = uniqueXuid();
      const other = uniqueXuid();
      const [theirs] = await factory.deliver(other, [{}]);
      await factory.deliver(owner, [{}]);

      const response = await call('DELETE', owner, theirs.id);

      expect(response.status).toBe(204);
      expect(await factory.entry(other, theirs.id)).toEqual({ is_read: false });
      expect(await factory.counter(other)).toBe(1);
      expect(await factory.counter(owner)).toBe(1);
    });

    it('should answer 204 for an inbox that has never held anything', async () => {
      const owner = uniqueXuid();

      const response = await call('DELETE', owner, messageIdAt(Date.now()));

      expect(response.status).toBe(204);
      expect(await factory.counter(owner)).toBeNull();
    });

    it('should remove an expired entry and keep totalItems exact when it is deleted before the purge', async () => {
      const owner = uniqueXuid();
      const [expired] = await factory.deliver(owner, [expiredSpec()]);
      await factory.deliver(owner, [{}, {}]);

      const before = await listing(owner);
      const response = await call('DELETE', owner, expired.id);
      const after = await listing(owner);

      expect(response.status).toBe(204);
      expect(await factory.counter(owner)).toBe(2);
      expect(before.pagingInfo.totalItems).toBe(2);
      expect(after.pagingInfo.totalItems).toBe(2);
    });

    it.each([
      ['over 50 characters', 'A'.repeat(51)],
      ['a dot', 'a.b'],
      ['an encoded slash', 'a%2Fb'],
    ])('should answer 404 when the message id has %s', async (_, messageId) => {
      const response = await call('DELETE', uniqueXuid(), messageId);

      expect(response.status).toBe(404);
      expect(response.body).toEqual(malformedId);
    });

    it('should answer 401, 403 and 404 for the path and delete nothing', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}]);

      const noToken = await call('DELETE', owner, message.id, {});
      const otherUser = await call('DELETE', owner, message.id, await bearer(uniqueXuid()));
      const emptyPath = await request(url, 'DELETE', `/users/xuid()/inbox/${message.id}`, await bearer(owner));
      const hugePath = await request(
        url,
        'DELETE',
        `/users/xuid(18446744073709551616)/inbox/${message.id}`,
        await bearer(owner),
      );

      expect(noToken.status).toBe(401);
      expect(otherUser.status).toBe(403);
      expect(emptyPath.status).toBe(404);
      expect(hugePath.status).toBe(404);
      expect(hugePath.body.errorCode).toBe(ERRORS.INBOX_XUID_INVALID.code);
      expect(await factory.entry(owner, message.id)).toEqual({ is_read: false });
      expect(await factory.counter(owner)).toBe(1);
    });
  });
});
