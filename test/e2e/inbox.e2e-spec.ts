import { MessageType } from '@app/shared/database/entities/message.entity';
import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { expectedItem, InboxFactory, inboxPath, messageIdAt, newestFirst, request } from '../factories/inbox.factory';
import { bearer, uniqueGamertag, uniqueXuid } from '../factories/users.factory';
import { startStack } from '../setup/services';

const DAY_MS = 86_400_000;

describe('GET /users/xuid({xuid})/inbox', () => {
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

  async function list(xuid: Xuid, query = '', headers?: Record<string, string>) {
    return request(url, 'GET', inboxPath(xuid, query), headers ?? (await bearer(xuid)));
  }

  const errorBody = (definition: { source: string; code: number }, message?: string) => ({
    errorSource: definition.source,
    errorCode: definition.code,
    errorMessage: message ?? expect.any(String),
  });

  describe('200', () => {
    it('should answer an empty page with totalItems 0 when the inbox is empty', async () => {
      const response = await list(uniqueXuid());

      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
    });

    it('should answer exactly the contract shape when the inbox holds user and system messages', async () => {
      const owner = uniqueXuid();
      const sender = await factory.sender(uniqueGamertag('Striker'));
      const base = Date.UTC(2031, 4, 8, 17, 30, 0, 250);
      await factory.deliver(owner, [
        { sender, sent: new Date(base), text: 'random user text', expiration: new Date(base + 30 * DAY_MS) },
        {
          sender,
          sent: new Date(base - 1000),
          type: MessageType.System,
          subject: 'LIVE System',
          text: 'Your subscription renews soon.',
          isRead: true,
          expiration: new Date(base + 5 * DAY_MS),
        },
      ]);
      const [first, second] = await factory.query<{ message_id: string }>(
        `SELECT message_id FROM inbox_entries WHERE recipient_xuid = $1 ORDER BY message_id DESC`,
        [owner],
      );

      const response = await list(owner);

      expect(response.status).toBe(200);
      expect(response.body).toStrictEqual({
        results: [
          {
            header: {
              id: first.message_id,
              isRead: false,
              sent: '2031-05-08T17:30:00.250Z',
              expiration: '2031-06-07T17:30:00.250Z',
              messageType: 'User',
              senderXuid: sender.xuid,
              sender: sender.gamertag,
              hasAudio: false,
              hasPhoto: false,
              hasText: true,
              messageFolderType: 'Inbox',
            },
            messageSummary: 'random user text',
          },
          {
            header: {
              id: second.message_id,
              isRead: true,
              sent: '2031-05-08T17:29:59.250Z',
              expiration: '2031-05-13T17:30:00.250Z',
              messageType: 'System',
              senderXuid: sender.xuid,
              sender: sender.gamertag,
              hasAudio: false,
              hasPhoto: false,
              hasText: true,
              messageFolderType: 'Inbox',
            },
            messageSummary: 'LIVE System',
          },
        ],
        pagingInfo: { continuationToken: null, totalItems: 2 },
      });
      // XUIDs above 2^53 arrive as exact strings in the raw text, never numbers.
      expect(response.text).toContain(`"senderXuid":"${sender.xuid}"`);
    });

    it('should accept the percent-encoded path and contract version 1 when both are sent', async () => {
      const owner = uniqueXuid();
      const [message] = await factory.deliver(owner, [{}]);

      const response = await request(url, 'GET', `/users/xuid%28${owner}%29/inbox`, {
        ...(await bearer(owner)),
        'x-xbl-contract-version': '1',
      });

      expect(response.status).toBe(200);
      expect(response.body.results).toEqual([expectedItem(message)]);
    });

    it('should accept the XBL3.0 authorization form and leading zeros in the path XUID', async () => {
      const owner = uniqueXuid();
      const { authorization } = await bearer(owner);
      const token = authorization.replace('Bearer ', '');

      const response = await request(url, 'GET', inboxPath(`000${owner}`), {
        authorization: `XBL3.0 x=userhash;${token}`,
      });

      expect(response.status).toBe(200);
      expect(response.body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
    });

    it('should list newest first with equal sent times ordered by id, newest id first', async () => {
      const owner = uniqueXuid();
      const sender = await factory.sender();
      const tie = Date.UTC(2031, 0, 1, 0, 0, 0, 500);
      // Ids carry the sent time: three of one millisecond, and one each just after and before it.
      const prefix = messageIdAt(tie).slice(0, 10);
      const [a, c, b, after, before] = await factory.deliver(owner, [
        { sender, id: `${prefix}${'A'.repeat(16)}` },
        { sender, id: `${prefix}${'C'.repeat(16)}` },
        { sender, id: `${prefix}${'B'.repeat(16)}` },
        { sender, id: messageIdAt(tie + 1) },
        { sender, id: messageIdAt(tie - 1) },
      ]);
      const messages = [a, c, b, after, before];
      const expectedOrder = [after, c, b, a, before].map((message) => message.id);

      const whole = await list(owner);
      const oneByOne: string[] = [];
      let token: string | null = null;
      do {
        const query: string = token === null ? '?maxItems=1' : `?maxItems=1&continuationToken=${token}`;
        const page = await list(owner, query);
        expect(page.status).toBe(200);
        oneByOne.push(...page.body.results.map((item: { header: { id: string } }) => item.header.id));
        token = page.body.pagingInfo.continuationToken;
      } while (token !== null);

      expect(whole.body.results.map((item: { header: { id: string } }) => item.header.id)).toEqual(expectedOrder);
      expect(newestFirst(messages).map((message) => message.id)).toEqual(expectedOrder);
      expect(oneByOne).toEqual(expectedOrder);
      expect(whole.body.results.map((item: { header: { sent: string } }) => item.header.sent)).toEqual([
        '2031-01-01T00:00:00.501Z',
        '2031-01-01T00:00:00.500Z',
        '2031-01-01T00:00:00.500Z',
        '2031-01-01T00:00:00.500Z',
        '2031-01-01T00:00:00.499Z',
      ]);
    });

    it('should keep emoji whole in the summary when the text starts with more than 20 of them', async () => {
      const owner = uniqueXuid();
      const text = '😀🎮👍🏽🚀'.repeat(6) + ' gg';
      const [message] = await factory.deliver(owner, [{ text }]);

      const response = await list(owner);

      expect(message.summary).toBe(Array.from(text).slice(0, 20).join(''));
      expect(Array.from(response.body.results[0].messageSummary)).toHaveLength(20);
      expect(response.body.results[0].messageSummary).toBe(message.summary);
      expect(response.body.results[0].messageSummary).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    });
  });

  describe('totalItems', () => {
    it('should count only unexpired messages when expired entries are not purged yet', async () => {
      const owner = uniqueXuid();
      const now = Date.now();
      const live = await factory.deliver(owner, [{}, {}, {}, {}, {}]);
      const expired = await factory.deliver(owner, [
        { sent: new Date(now - 40 * DAY_MS), expiration: new Date(now - 10 * DAY_MS) },
        { sent: new Date(now - 31 * DAY_MS), expiration: new Date(now - 1000) },
        { sent: new Date(now - 30 * DAY_MS), expiration: new Date(now - 1) },
      ]);

      const response = await list(owner);

      expect(await factory.counter(owner)).toBe(8);
      expect(response.body.pagingInfo.totalItems).toBe(5);
      expect(response.body.results).toEqual(newestFirst(live).map((message) => expectedItem(message)));

      await factory.purge(owner, expired[0].id);
      const afterPurge = await list(owner, '?maxItems=1');

      expect(await factory.counter(owner)).toBe(7);
      expect(afterPurge.body.pagingInfo.totalItems).toBe(5);
    });

    it('should report the inbox total on every page when the page is smaller', async () => {
      const owner = uniqueXuid();
      await factory.deliver(
        owner,
        Array.from({ length: 12 }, () => ({})),
      );

      const first = await list(owner, '?maxItems=5');
      const second = await list(owner, `?maxItems=5&continuationToken=${first.body.pagingInfo.continuationToken}`);

      expect(first.body.pagingInfo.totalItems).toBe(12);
      expect(second.body.pagingInfo.totalItems).toBe(12);
    });
  });

  describe('maxItems and skipItems', () => {
    it('should return 25 items with a token when maxItems is absent and more follow', async () => {
      const owner = uniqueXuid();
      const messages = newestFirst(
        await factory.deliver(
          owner,
          Array.from({ length: 30 }, () => ({})),
        ),
      );

      const response = await list(owner);

      expect(response.body.results).toEqual(messages.slice(0, 25).map((message) => expectedItem(message)));
      expect(response.body.pagingInfo.continuationToken).toEqual(expect.any(String));
    });

    it('should return the window after the skipped items when skipItems is set', async () => {
      const owner = uniqueXuid();
      const messages = newestFirst(
        await factory.deliver(
          owner,
          Array.from({ length: 10 }, () => ({})),
        ),
      );

      const window = await list(owner, '?skipItems=3&maxItems=4');
      const rest = await list(owner, `?maxItems=100&continuationToken=${window.body.pagingInfo.continuationToken}`);
      const tail = await list(owner, '?skipItems=8&maxItems=4');

      expect(window.body.results).toEqual(messages.slice(3, 7).map((message) => expectedItem(message)));
      expect(window.body.pagingInfo).toEqual({ continuationToken: expect.any(String), totalItems: 10 });
      expect(rest.body).toEqual({
        results: messages.slice(7).map((message) => expectedItem(message)),
        pagingInfo: { continuationToken: null, totalItems: 10 },
      });
      expect(tail.body).toEqual({
        results: messages.slice(8).map((message) => expectedItem(message)),
        pagingInfo: { continuationToken: null, totalItems: 10 },
      });
    });

    it('should give exactly maxItems and no token when the inbox holds exactly maxItems', async () => {
      const owner = uniqueXuid();
      await factory.deliver(
        owner,
        Array.from({ length: 7 }, () => ({})),
      );

      const response = await list(owner, '?maxItems=7');

      expect(response.body.results).toHaveLength(7);
      expect(response.body.pagingInfo).toEqual({ continuationToken: null, totalItems: 7 });
    });

    it('should answer 200 with an empty page when skipItems equals the number of messages', async () => {
      const owner = uniqueXuid();
      await factory.deliver(owner, [{}, {}, {}]);

      const response = await list(owner, '?skipItems=3');

      expect(response.status).toBe(200);
      expect(response.body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 3 } });
    });

    it('should answer 416 when skipItems is one more than the number of messages', async () => {
      const owner = uniqueXuid();
      await factory.deliver(owner, [{}, {}, {}]);

      const response = await list(owner, '?skipItems=4');

      expect(response.status).toBe(416);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toEqual(
        errorBody(ERRORS.SKIP_PAST_END, 'skipItems is 4, larger than the 3 messages in the inbox; use at most 3.'),
      );
    });

    it('should answer 416 when expired entries would have made skipItems fit', async () => {
      const owner = uniqueXuid();
      const now = Date.now();
      await factory.deliver(owner, [{}, { sent: new Date(now - 31 * DAY_MS), expiration: new Date(now - 1) }]);

      expect((await list(owner, '?skipItems=1')).status).toBe(200);
      expect((await list(owner, '?skipItems=2')).status).toBe(416);
    });

    it('should answer 416 when skipItems is 100 and the inbox is empty, and 200 for 0', async () => {
      const owner = uniqueXuid();

      expect((await list(owner, '?skipItems=100')).status).toBe(416);
      expect((await list(owner, '?skipItems=0')).status).toBe(200);
    });

    it('should accept the limits themselves when maxItems is 1 or 100 and skipItems 100', async () => {
      const owner = uniqueXuid();
      await factory.deliver(
        owner,
        Array.from({ length: 101 }, () => ({})),
      );

      const one = await list(owner, '?maxItems=1');
      const hundred = await list(owner, '?maxItems=100');
      const skipped = await list(owner, '?skipItems=100&maxItems=100');

      expect(one.body.results).toHaveLength(1);
      expect(hundred.body.results).toHaveLength(100);
      expect(skipped.body.results).toHaveLength(1);
      expect(skipped.body.pagingInfo.continuationToken).toBeNull();
    });

    it('should ignore skipItems, even an invalid one, when a continuation token is present', async () => {
      const owner = uniqueXuid();
      const messages = newestFirst(
        await factory.deliver(
          owner,
          Array.from({ length: 6 }, () => ({})),
        ),
      );
      const first = await list(owner, '?maxItems=2');
      const token = first.body.pagingInfo.continuationToken;

      const withSkip = await list(owner, `?maxItems=2&skipItems=3&continuationToken=${token}`);
      const withBadSkip = await list(owner, `?maxItems=2&skipItems=abc&continuationToken=${token}`);

      expect(withSkip.body.results).toEqual(messages.slice(2, 4).map((message) => expectedItem(message)));
      expect(withBadSkip.status).toBe(200);
      expect(withBadSkip.body.results).toEqual(withSkip.body.results);
    });
  });

  describe('400', () => {
    it.each([
      ['maxItems', '0'],
      ['maxItems', '101'],
      ['maxItems', '1.0'],
      ['maxItems', ''],
      ['maxItems', 'abc'],
      ['maxItems', '%2B1'],
      ['maxItems', '%201'],
      ['maxItems', '0x10'],
      ['maxItems', '-1'],
      ['maxItems', '1e2'],
      ['maxItems', '99999999999999999999999'],
      ['skipItems', '-1'],
      ['skipItems', '101'],
      ['skipItems', '1.0'],
      ['skipItems', ''],
      ['skipItems', 'abc'],
      ['skipItems', '%2B1'],
      ['skipItems', '1%20'],
      ['skipItems', '0x10'],
    ])('should answer 400 naming %s when it is "%s"', async (name, value) => {
      const owner = uniqueXuid();

      const response = await list(owner, `?${name}=${value}`);

      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toEqual(
        errorBody(ERRORS.INBOX_PARAMETER_INVALID, expect.stringMatching(new RegExp(`^${name} must be`))),
      );
    });

    it('should say what was wrong and the allowed range when maxItems is out of range', async () => {
      const response = await list(uniqueXuid(), '?maxItems=101');

      expect(response.body).toEqual(errorBody(ERRORS.INBOX_PARAMETER_INVALID, 'maxItems must be from 1 to 100; got "101".'));
    });

    it('should answer 400 when a parameter is given twice', async () => {
      const response = await list(uniqueXuid(), '?maxItems=1&maxItems=2');
      const tokens = await list(uniqueXuid(), '?continuationToken=a&continuationToken=b');

      expect(response.status).toBe(400);
      expect(response.body).toEqual(
        errorBody(ERRORS.INBOX_PARAMETER_INVALID, 'maxItems is given more than once; give it once.'),
      );
      expect(tokens.status).toBe(400);
      expect(tokens.body).toEqual(
        errorBody(ERRORS.INBOX_PARAMETER_INVALID, 'continuationToken is given more than once; give it once.'),
      );
    });

    it('should read decimal digits with leading zeros as the integer they spell', async () => {
      const owner = uniqueXuid();
      await factory.deliver(
        owner,
        Array.from({ length: 9 }, () => ({})),
      );

      const response = await list(owner, '?maxItems=007&skipItems=0001');

      expect(response.status).toBe(200);
      expect(response.body.results).toHaveLength(7);
    });

    it.each([
      ['garbage', 'garbage'],
      ['empty', ''],
      ['not base64url', 'a+b%2Fc%3D'],
      ['over 100 characters', 'A'.repeat(101)],
      ['the string null', 'null'],
    ])('should answer 400 when the continuation token is %s', async (_, token) => {
      const response = await list(uniqueXuid(), `?continuationToken=${token}`);

      expect(response.status).toBe(400);
      expect(response.body).toEqual(errorBody(ERRORS.CONTINUATION_TOKEN_INVALID, ERRORS.CONTINUATION_TOKEN_INVALID.message));
    });
  });

  describe('401, 403, 404 and the contract version', () => {
    it('should answer 401 when no token is sent', async () => {
      const response = await list(uniqueXuid(), '', {});

      expect(response.status).toBe(401);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toEqual(errorBody(ERRORS.TOKEN_MISSING, ERRORS.TOKEN_MISSING.message));
    });

    it('should answer 401 when the token is not validly signed', async () => {
      const owner = uniqueXuid();
      const { authorization } = await bearer(owner);

      const response = await list(owner, '', { authorization: `${authorization.slice(0, -2)}xx` });

      expect(response.status).toBe(401);
    });

    it('should answer 401 before anything else when the token is missing and the path is bad', async () => {
      const response = await request(url, 'GET', '/users/xuid(abc)/inbox?maxItems=0');

      expect(response.status).toBe(401);
    });

    it('should answer 403 when the path names another user', async () => {
      const caller = uniqueXuid();
      const owner = uniqueXuid();
      await factory.deliver(owner, [{}]);

      const response = await list(owner, '', await bearer(caller));

      expect(response.status).toBe(403);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toEqual(errorBody(ERRORS.FORBIDDEN_USER, ERRORS.FORBIDDEN_USER.message));
    });

    it('should answer 400 when the contract version is not 1', async () => {
      const owner = uniqueXuid();

      const response = await list(owner, '', { ...(await bearer(owner)), 'x-xbl-contract-version': '2' });

      expect(response.status).toBe(400);
      expect(response.body).toEqual(
        errorBody(ERRORS.UNSUPPORTED_CONTRACT_VERSION, 'x-xbl-contract-version must be 1, or be left out; got "2".'),
      );
    });

    it.each([
      ['empty', 'xuid()'],
      ['letters', 'xuid(abc)'],
      ['2^64', 'xuid(18446744073709551616)'],
      ['zero', 'xuid(0)'],
      ['negative', 'xuid(-1)'],
    ])('should answer 404 when the path XUID is %s', async (_, segment) => {
      const response = await request(url, 'GET', `/users/${segment}/inbox`, await bearer(uniqueXuid()));

      expect(response.status).toBe(404);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.body).toEqual(
        errorBody(
          ERRORS.INBOX_XUID_INVALID,
          `The XUID in the path segment "${segment}" cannot be converted: use xuid(<XUID>), the XUID written as ` +
            'decimal digits for a value from 1 to 18446744073709551615 (leading zeros are accepted).',
        ),
      );
    });
  });
});
