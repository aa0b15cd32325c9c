import { Queue } from 'bullmq';
import { decodeTime } from 'ulid';
import { createConnection, createServer, Server, Socket } from 'node:net';
import { DELIVERY_JOBS, DELIVERY_QUEUE } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { DEVELOPMENT_JWT_SECRET, signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { OutboxRows, outboxPath, postOutbox, QuotaKeys, Recipient, send, sendBody } from '../factories/outbox.factory';
import {
  bearer,
  block,
  createUser,
  createUsers,
  makeFriends,
  putUser,
  TestUser,
  uniqueGamertag,
  uniqueXuid,
} from '../factories/users.factory';
import { freePort } from '../setup/free-port';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { RunningService, startGateway, startQuota, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testRedisUrl } from '../setup/test-env';

const MESSAGE_TTL_SECONDS = 7200;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const sorted = (xuids: string[]): string[] => [...xuids].sort();
const CONTENT_TYPE_MESSAGE = 'Content-Type must be application/json (parameters such as charset=utf-8 are allowed).';
const GAMERTAG_RULE = 'a string of 1 to 15 letters and digits, with single spaces only between them';

describe('POST /users/xuid({xuid})/outbox', () => {
  // A namespace of our own inside the run's: delivery workers other suites start
  // on the run's prefix never take our jobs, so a job and delivered_at stay as the gateway left them.
  const prefix = privateRedisPrefix('outbox');
  let stack: Awaited<ReturnType<typeof startStack>>;
  let url: string;
  let adminUrl: string;
  let rows: OutboxRows;
  let quota: QuotaKeys;
  let queue: Queue;

  beforeAll(async () => {
    stack = await startStack({
      gateway: { REDIS_PREFIX: prefix, MESSAGE_TTL_SECONDS },
      quota: { REDIS_PREFIX: prefix },
    });
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
    rows = await OutboxRows.open();
    quota = new QuotaKeys(prefix);
    queue = new Queue(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix });
  });

  afterAll(async () => {
    await queue?.close();
    await quota?.close();
    await rows?.close();
    await stack?.close();
  });

  /** POST a raw body as the given sender's own gold token. */
  const postRaw = async (sender: string, body: string | Uint8Array | undefined, headers: Record<string, string> = {}) =>
    postOutbox(url, outboxPath(sender), body, { ...(await bearer(sender)), 'content-type': 'application/json', ...headers });

  function expectError(
    response: { status: number; body: unknown; headers: Headers },
    status: number,
    errorSource: string,
    errorCode: number,
    errorMessage: string | RegExp,
  ): void {
    expect({ status: response.status, body: response.body }).toEqual({
      status,
      body: {
        errorSource,
        errorCode,
        errorMessage: typeof errorMessage === 'string' ? errorMessage : expect.stringMatching(errorMessage),
      },
    });
  }

  /** A refused send leaves nothing behind: no message, no charge. */
  async function expectNothingKept(sender: string): Promise<void> {
    expect(await rows.countOf(sender)).toBe(0);
    expect(await quota.usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0 });
  }

  describe('200', () => {
    it("should stamp a send with the database's clock, not the gateway's, and charge quota at that time", async () => {
      const sender = await createUser(adminUrl);
      const authorization = await bearer(sender.xuid);
      const realNow = Date.now.bind(Date);
      // This gateway's clock is an hour behind.
      const skewed = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      let response;
      try {
        response = await send(url, sender.xuid, [{ xuid: sender.xuid }], { headers: authorization });
      } finally {
        skewed.mockRestore();
      }

      expect(response.status).toBe(200);
      const [message] = await rows.messagesOf(sender.xuid);
      const [{ skew }] = await rows.query<{ skew: number }>(
        `SELECT extract(epoch FROM now() - sent)::float8 AS skew FROM messages WHERE id = $1`,
        [message.id],
      );
      expect(Math.abs(skew)).toBeLessThan(60);
      expect(decodeTime(message.id)).toBe(message.sent.getTime());
      const [score] = await quota.redis.zrange(quota.keysOf(sender.xuid).log, 0, -1, 'WITHSCORES').then((r) => [Number(r[1])]);
      expect(score).toBe(message.sent.getTime());
    });

    it('should answer 200 with an empty body, store the message and enqueue its delivery when the send is valid', async () => {
      const sender = await createUser(adminUrl);
      const friend = await createUser(adminUrl);
      const stranger = await createUser(adminUrl);
      await makeFriends(adminUrl, sender.xuid, friend.xuid);
      const before = Date.now();

      const response = await send(url, sender.xuid, [{ xuid: friend.xuid }, { gamertag: stranger.gamertag }], {
        text: 'random user text',
      });

      const after = Date.now();
      expect({ status: response.status, text: response.text }).toEqual({ status: 200, text: '' });
      const stored = await rows.messagesOf(sender.xuid);
      expect(stored).toEqual([
        {
          id: expect.stringMatching(ULID),
          sender_xuid: sender.xuid,
          recipients: [friend.xuid, stranger.xuid],
          text: 'random user text',
          sent: expect.any(Date),
          expiration: expect.any(Date),
          delivered_at: null,
          request_id: expect.any(String),
          lifetime_ms: MESSAGE_TTL_SECONDS * 1000,
        },
      ]);
      const [message] = stored;
      expect(message.sent.getTime()).toBeGreaterThanOrEqual(before);
      expect(message.sent.getTime()).toBeLessThanOrEqual(after);
      expect(message.expiration.getTime()).toBe(message.sent.getTime() + MESSAGE_TTL_SECONDS * 1000);

      const job = await queue.getJob(message.id);
      expect(job).toBeDefined();
      expect({ id: job!.id, name: job!.name, data: job!.data, attempts: job!.opts.attempts }).toEqual({
        id: message.id,
        name: DELIVERY_JOBS.deliverMessage,
        data: { messageId: message.id, requestId: message.request_id },
        attempts: 8,
      });
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 2, strangers: 1 });
    });

    it('should give every accepted message its own id, newer ids sorting after older ones', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      for (let i = 0; i < 3; i++) expect((await send(url, sender.xuid, [{ xuid: recipient.xuid }])).status).toBe(200);
      const ids = (await rows.messagesOf(sender.xuid)).map((message) => message.id);
      expect(new Set(ids).size).toBe(3);
      expect(ids).toEqual([...ids].sort());
    });

    it('should accept 250 emoji (500 UTF-16 units) when text length is counted in code points', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const text = '😀'.repeat(250);
      expect(text.length).toBe(500);

      const response = await send(url, sender.xuid, [{ xuid: recipient.xuid }], { text });

      expect(response.status).toBe(200);
      expect((await rows.messagesOf(sender.xuid)).map((message) => message.text)).toEqual([text]);
    });

    it('should accept exactly 20 recipients', async () => {
      const sender = await createUser(adminUrl);
      const recipients = await createUsers(adminUrl, 20);
      const response = await send(
        url,
        sender.xuid,
        recipients.map((user) => ({ xuid: user.xuid })),
      );
      expect(response.status).toBe(200);
      const [message] = await rows.messagesOf(sender.xuid);
      expect(sorted(message.recipients)).toEqual(sorted(recipients.map((user) => user.xuid)));
    });

    it('should reach exactly the users named by bare JSON numbers above 2^53', async () => {
      // As doubles, 18446744073709551614 becomes 2^64 (out of range) and 9007199254740993
      // becomes 9007199254740992, another existing user: a lossy parser would refuse or misdeliver.
      // (18446744073709551615 itself belongs to the admin and import suites, which delete and recreate it.)
      const nearMax = await putUser(adminUrl, '18446744073709551614' as Xuid);
      const twoTo53Plus1 = await putUser(adminUrl, '9007199254740993' as Xuid);
      await putUser(adminUrl, '9007199254740992' as Xuid);
      const sender = await createUser(adminUrl);
      const body = `{"header":{"recipients":[{"xuid":18446744073709551614},{"xuid":9007199254740993}]},"messageText":"exact"}`;

      const response = await postRaw(sender.xuid, body);

      expect(response.status).toBe(200);
      const [message] = await rows.messagesOf(sender.xuid);
      expect(sorted(message.recipients)).toEqual(sorted([nearMax.xuid, twoTo53Plus1.xuid]));
      const [exact] = await rows.query<{ exact: boolean }>(
        `SELECT recipients = ARRAY[18446744073709551614, 9007199254740993]::numeric[] AS exact FROM messages WHERE id = $1`,
        [message.id],
      );
      expect(exact).toEqual({ exact: true });
    });

    it('should look gamertags up without regard to case', async () => {
      const sender = await createUser(adminUrl);
      const ascii = await createUser(adminUrl, { gamertag: `GoTeam${uniqueGamertag().slice(6)}` });
      const accented = await createUser(adminUrl, { gamertag: `Ärger${uniqueGamertag().slice(5)}` });

      const response = await send(url, sender.xuid, [
        { gamertag: ascii.gamertag.toLowerCase() },
        { gamertag: accented.gamertag.toUpperCase() },
      ]);

      expect(response.status).toBe(200);
      const [message] = await rows.messagesOf(sender.xuid);
      expect(sorted(message.recipients)).toEqual(sorted([ascii.xuid, accented.xuid]));
    });

    it('should count a recipient once when named by xuid and by gamertag, or by xuid with leading zeros', async () => {
      const sender = await createUser(adminUrl);
      const a = await createUser(adminUrl);
      const b = await createUser(adminUrl);
      await makeFriends(adminUrl, sender.xuid, b.xuid);
      const body =
        `{"header":{"recipients":[{"xuid":"${a.xuid}"},{"gamertag":"${a.gamertag.toUpperCase()}"},` +
        `{"xuid":"000${b.xuid}"},{"xuid":${b.xuid}},{"xuid":"${b.xuid}"},{"gamertag":"${b.gamertag}"}]},"messageText":"once"}`;

      const response = await postRaw(sender.xuid, body);

      expect(response.status).toBe(200);
      const [message] = await rows.messagesOf(sender.xuid);
      expect(sorted(message.recipients)).toEqual(sorted([a.xuid, b.xuid]));
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 2, strangers: 1 });
    });

    it('should never count the sender as a stranger to themself', async () => {
      const sender = await createUser(adminUrl);
      expect((await send(url, sender.xuid, [{ xuid: sender.xuid }])).status).toBe(200);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 0 });
    });

    it('should still accept and charge a send when the recipient blocked the sender', async () => {
      const sender = await createUser(adminUrl);
      const blocker = await createUser(adminUrl);
      const closed = await createUser(adminUrl, { communication: 'blocked' });
      await block(adminUrl, blocker.xuid, sender.xuid);

      const response = await send(url, sender.xuid, [{ xuid: blocker.xuid }, { xuid: closed.xuid }]);

      expect({ status: response.status, text: response.text }).toEqual({ status: 200, text: '' });
      expect(sorted((await rows.messagesOf(sender.xuid))[0].recipients)).toEqual(sorted([blocker.xuid, closed.xuid]));
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 2, strangers: 2 });
    });

    it('should ignore unknown extra properties', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const body = {
        header: { recipients: [{ xuid: recipient.xuid, note: 1 }], extra: true },
        messageText: 'hi',
        attachment: null,
      };
      expect((await postRaw(sender.xuid, JSON.stringify(body))).status).toBe(200);
      expect(await rows.countOf(sender.xuid)).toBe(1);
    });

    it('should accept Content-Type parameters, x-xbl-contract-version 1 and the percent-encoded path', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const body = JSON.stringify(sendBody([{ xuid: recipient.xuid }]));
      const headers = {
        ...(await bearer(sender.xuid)),
        'content-type': 'application/json; charset=utf-8',
        'x-xbl-contract-version': '1',
      };
      expect((await postOutbox(url, `/users/xuid%28${sender.xuid}%29/outbox`, body, headers)).status).toBe(200);
      expect((await postOutbox(url, `/users/xuid(000${sender.xuid})/outbox`, body, headers)).status).toBe(200);
      expect(await rows.countOf(sender.xuid)).toBe(2);
    });

    it('should accept a body of exactly 64 KiB', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const body = padTo(64 * 1024, { header: { recipients: [{ xuid: recipient.xuid }] }, messageText: 'big body' });
      expect(Buffer.byteLength(body)).toBe(65536);
      expect((await postRaw(sender.xuid, body)).status).toBe(200);
    });
  });

  describe('sender not in the directory', () => {
    it("should add the sender from the token's xid and gtg on first send", async () => {
      const xuid = uniqueXuid();
      const gamertag = uniqueGamertag('N');
      const recipient = await createUser(adminUrl);
      const headers = { ...(await bearer(xuid, { gamertag })), 'content-type': 'application/json' };

      const response = await postOutbox(url, outboxPath(xuid), JSON.stringify(sendBody([{ xuid: recipient.xuid }])), headers);

      expect(response.status).toBe(200);
      expect(await rows.query('SELECT xuid, gamertag, communication FROM users WHERE xuid = $1', [xuid])).toEqual([
        { xuid, gamertag, communication: 'everyone' },
      ]);
      expect((await rows.messagesOf(xuid)).map((message) => message.recipients)).toEqual([[recipient.xuid]]);
    });

    it('should answer 403 SENDER_UNKNOWN when the token has no gtg claim', async () => {
      const xuid = uniqueXuid();
      const recipient = await createUser(adminUrl);
      const headers = { ...(await bearer(xuid)), 'content-type': 'application/json' };

      const response = await postOutbox(url, outboxPath(xuid), JSON.stringify(sendBody([{ xuid: recipient.xuid }])), headers);

      expectError(
        response,
        403,
        'outbox',
        4008,
        'The sender is not in the directory and the token has no gamertag (gtg) claim to add them with.',
      );
      expect(await rows.query('SELECT 1 FROM users WHERE xuid = $1', [xuid])).toEqual([]);
      await expectNothingKept(xuid);
    });

    it("should answer 403 SENDER_UNKNOWN when the token's gamertag belongs to another user", async () => {
      const holder = await createUser(adminUrl);
      const xuid = uniqueXuid();
      const headers = { ...(await bearer(xuid, { gamertag: holder.gamertag })), 'content-type': 'application/json' };

      const response = await postOutbox(url, outboxPath(xuid), JSON.stringify(sendBody([{ xuid: holder.xuid }])), headers);

      expectError(
        response,
        403,
        'outbox',
        4008,
        `The sender is not in the directory and the gamertag "${holder.gamertag}" belongs to another user.`,
      );
      await expectNothingKept(xuid);
    });
  });

  describe('400', () => {
    let sender: TestUser;
    let recipient: TestUser;
    const ok = () => ({ xuid: recipient.xuid });

    beforeAll(async () => {
      sender = await createUser(adminUrl);
      recipient = await createUser(adminUrl);
    });

    afterEach(async () => {
      await expectNothingKept(sender.xuid);
    });

    it.each<[string, () => string, number, string | RegExp]>([
      ['the body is not JSON', () => '{"header":', 1002, /^The request body is not valid JSON \(.+\)\.$/],
      [
        'the body is a list',
        () => '[1]',
        4001,
        `The body must be a JSON object with a "header" object and "messageText", like {"header":{"recipients":[{"gamertag":"GoTeamEmily"}]},"messageText":"hi"}; it is a list.`,
      ],
      [
        'the body is a string',
        () => '"text"',
        4001,
        `The body must be a JSON object with a "header" object and "messageText", like {"header":{"recipients":[{"gamertag":"GoTeamEmily"}]},"messageText":"hi"}; it is a string.`,
      ],
      [
        'the body is null',
        () => 'null',
        4001,
        `The body must be a JSON object with a "header" object and "messageText", like {"header":{"recipients":[{"gamertag":"GoTeamEmily"}]},"messageText":"hi"}; it is null.`,
      ],
      [
        'header is missing',
        () => '{"messageText":"hi"}',
        4001,
        'The body must have a "header" object holding the recipients, like "header":{"recipients":[{"gamertag":"GoTeamEmily"}]}.',
      ],
      [
        'recipients is missing',
        () => '{"header":{},"messageText":"hi"}',
        4002,
        'header.recipients must be a list of 1 to 20 recipients; it is missing or not a list.',
      ],
      [
        'recipients is not a list',
        () => JSON.stringify({ header: { recipients: ok() }, messageText: 'hi' }),
        4002,
        'header.recipients must be a list of 1 to 20 recipients; it is missing or not a list.',
      ],
      [
        'recipients is empty',
        () => JSON.stringify(sendBody([])),
        4002,
        'header.recipients must be a list of 1 to 20 recipients; 0 were given.',
      ],
      [
        'there are 21 recipients',
        () => JSON.stringify(sendBody(Array.from({ length: 21 }, ok))),
        4002,
        'header.recipients must be a list of 1 to 20 recipients; 21 were given.',
      ],
      [
        'an entry is a string',
        () => JSON.stringify(sendBody([ok(), 'x' as unknown as Recipient])),
        4002,
        'header.recipients[1] must be an object with one of "xuid" and "gamertag", like {"gamertag":"GoTeamEmily"}; it is a string.',
      ],
      [
        'an entry is null',
        () => JSON.stringify(sendBody([null as unknown as Recipient])),
        4002,
        'header.recipients[0] must be an object with one of "xuid" and "gamertag", like {"gamertag":"GoTeamEmily"}; it is null.',
      ],
      [
        'an entry is a list',
        () => JSON.stringify(sendBody([[ok()] as unknown as Recipient])),
        4002,
        'header.recipients[0] must be an object with one of "xuid" and "gamertag", like {"gamertag":"GoTeamEmily"}; it is a list.',
      ],
      [
        'an entry has both xuid and gamertag',
        () => JSON.stringify(sendBody([ok(), { xuid: recipient.xuid, gamertag: recipient.gamertag }])),
        4003,
        'header.recipients[1] must have exactly one of "xuid" and "gamertag"; it has both.',
      ],
      [
        'an entry has neither xuid nor gamertag',
        () => JSON.stringify(sendBody([{ name: 'x' }])),
        4003,
        'header.recipients[0] must have exactly one of "xuid" and "gamertag"; it has neither.',
      ],
      [
        'messageText is missing',
        () => JSON.stringify({ header: { recipients: [ok()] } }),
        4004,
        'messageText is missing: send the text as a string of 1 to 250 characters.',
      ],
      [
        'messageText is a number',
        () => `{"header":{"recipients":[{"xuid":"${recipient.xuid}"}]},"messageText":42}`,
        4004,
        'messageText must be a string of 1 to 250 characters; it is a number.',
      ],
      [
        'messageText is null',
        () => JSON.stringify({ header: { recipients: [ok()] }, messageText: null }),
        4004,
        'messageText must be a string of 1 to 250 characters; it is null.',
      ],
      [
        'messageText is empty',
        () => JSON.stringify(sendBody([ok()], '')),
        4004,
        'messageText must be 1 to 250 characters, counted in Unicode code points (an emoji is one); it has 0.',
      ],
      [
        'messageText has 251 characters',
        () => JSON.stringify(sendBody([ok()], 'a'.repeat(251))),
        4004,
        'messageText must be 1 to 250 characters, counted in Unicode code points (an emoji is one); it has 251.',
      ],
      [
        'messageText has 251 emoji',
        () => JSON.stringify(sendBody([ok()], '😀'.repeat(251))),
        4004,
        'messageText must be 1 to 250 characters, counted in Unicode code points (an emoji is one); it has 251.',
      ],
      [
        'messageText has an unpaired high surrogate',
        () => `{"header":{"recipients":[{"xuid":"${recipient.xuid}"}]},"messageText":"a\\ud800b"}`,
        4004,
        'messageText is not valid Unicode: it has an unpaired surrogate (half of a UTF-16 pair); send whole characters.',
      ],
      [
        'messageText has an unpaired low surrogate',
        () => `{"header":{"recipients":[{"xuid":"${recipient.xuid}"}]},"messageText":"\\udc00"}`,
        4004,
        'messageText is not valid Unicode: it has an unpaired surrogate (half of a UTF-16 pair); send whole characters.',
      ],
      [
        'messageText has a NUL character',
        () => JSON.stringify(sendBody([ok()], 'a\u0000b')),
        4004,
        'messageText must not contain the NUL character (U+0000); remove it.',
      ],
      [
        'a shape error comes with an unconvertible XUID and an invalid gamertag',
        () => JSON.stringify({ header: { recipients: [{ xuid: '-1' }, { gamertag: 'bad!tag' }] } }),
        4004,
        'messageText is missing: send the text as a string of 1 to 250 characters.',
      ],
    ])('should answer 400 when %s', async (_, body, errorCode, errorMessage) => {
      const response = await postRaw(sender.xuid, body());
      expectError(response, 400, errorCode < 4000 ? 'gateway' : 'outbox', errorCode, errorMessage);
    });

    it('should answer 400 when the Content-Type is not application/json', async () => {
      const body = JSON.stringify(sendBody([ok()]));
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
        const response = await postRaw(sender.xuid, body, { 'content-type': type });
        expectError(response, 400, 'gateway', 1003, CONTENT_TYPE_MESSAGE);
      }
    });

    it('should answer 400 when the body has no Content-Type header', async () => {
      // A byte body: fetch adds no Content-Type of its own.
      const response = await postOutbox(
        url,
        outboxPath(sender.xuid),
        new TextEncoder().encode(JSON.stringify(sendBody([ok()]))),
        {
          ...(await bearer(sender.xuid)),
        },
      );
      expectError(response, 400, 'gateway', 1003, CONTENT_TYPE_MESSAGE);
    });

    it('should answer 400 when there is no body at all', async () => {
      const response = await postOutbox(url, outboxPath(sender.xuid), undefined, await bearer(sender.xuid));
      expectError(
        response,
        400,
        'outbox',
        4001,
        `The body must be a JSON object with a "header" object and "messageText", like {"header":{"recipients":[{"gamertag":"GoTeamEmily"}]},"messageText":"hi"}.`,
      );
    });

    it('should answer 400 when x-xbl-contract-version is not 1', async () => {
      for (const version of ['2', '0', 'v1', '']) {
        const response = await postRaw(sender.xuid, JSON.stringify(sendBody([ok()])), { 'x-xbl-contract-version': version });
        expectError(response, 400, 'gateway', 1005, `x-xbl-contract-version must be 1, or be left out; got "${version}".`);
      }
    });
  });

  describe('401 and 403', () => {
    it('should answer 401 when there is no token or it is not valid', async () => {
      const sender = await createUser(adminUrl);
      const body = JSON.stringify(sendBody([{ xuid: sender.xuid }]));
      const json = { 'content-type': 'application/json' };
      expectError(
        await postOutbox(url, outboxPath(sender.xuid), body, json),
        401,
        'auth',
        2001,
        'An Authorization header is required: "XBL3.0 x=<userhash>;<token>" or "Bearer <token>".',
      );
      expectError(
        await postOutbox(url, outboxPath(sender.xuid), body, { ...json, authorization: 'Bearer not.a.jwt' }),
        401,
        'auth',
        2003,
        /./,
      );
      await expectNothingKept(sender.xuid);
    });

    it('should answer 403 when the token belongs to another user', async () => {
      const sender = await createUser(adminUrl);
      const other = await createUser(adminUrl);
      const headers = { ...(await bearer(other.xuid)), 'content-type': 'application/json' };
      const response = await postOutbox(
        url,
        outboxPath(sender.xuid),
        JSON.stringify(sendBody([{ xuid: other.xuid }])),
        headers,
      );
      expectError(
        response,
        403,
        'auth',
        2101,
        'The token belongs to another user than the XUID in the path; use the XUID of the token\'s "xid" claim.',
      );
      await expectNothingKept(sender.xuid);
      await expectNothingKept(other.xuid);
    });

    it.each([
      ['silver', SubscriptionTier.Silver],
      ['absent', undefined],
    ])('should answer 403 when the tier claim is %s, not gold', async (_, tier) => {
      const sender = await createUser(adminUrl);
      // Signed by hand: the factory's tokens default to gold.
      const token = await signUserToken({ xuid: sender.xuid, tier, secret: DEVELOPMENT_JWT_SECRET });
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const response = await postOutbox(
        url,
        outboxPath(sender.xuid),
        JSON.stringify(sendBody([{ xuid: sender.xuid }])),
        headers,
      );
      expectError(
        response,
        403,
        'auth',
        2102,
        'Sending messages requires a gold subscription: the token\'s "tier" claim must be "gold".',
      );
      await expectNothingKept(sender.xuid);
    });

    it.each(['abc', '0', '18446744073709551616', '', '-1', '1.5', '1e3'])(
      'should answer 403 when the path XUID is xuid(%s)',
      async (pathXuid) => {
        const caller = uniqueXuid();
        const headers = { ...(await bearer(caller)), 'content-type': 'application/json' };
        const response = await postOutbox(
          url,
          `/users/xuid(${pathXuid})/outbox`,
          JSON.stringify(sendBody([{ xuid: caller }])),
          headers,
        );
        expectError(
          response,
          403,
          'outbox',
          3001,
          `The XUID in the path segment "xuid(${pathXuid})" cannot be converted: use xuid(<XUID>), the XUID written as decimal digits for a value from 1 to 18446744073709551615 (leading zeros are accepted).`,
        );
      },
    );

    it.each([
      ['the string "-1"', '"-1"'],
      ['the string "1.5"', '"1.5"'],
      ['the number 1e3', '1e3'],
      ['the number 1.5', '1.5'],
      ['the number -1', '-1'],
      ['the number 0', '0'],
      ['the string "0"', '"0"'],
      ['the number 18446744073709551616', '18446744073709551616'],
      ['the string "18446744073709551616"', '"18446744073709551616"'],
      ['an empty string', '""'],
      ['letters', '"abc"'],
      ['a string with spaces', '" 123"'],
      ['true', 'true'],
      ['null', 'null'],
      ['an object', '{"value":1}'],
    ])('should answer 403 when a recipient xuid is %s', async (_, written) => {
      const sender = await createUser(adminUrl);
      const friend = await createUser(adminUrl);
      const body = `{"header":{"recipients":[{"xuid":"${friend.xuid}"},{"xuid":${written}}]},"messageText":"hi"}`;
      const response = await postRaw(sender.xuid, body);
      expectError(
        response,
        403,
        'outbox',
        4005,
        'header.recipients[1].xuid cannot be converted to an XUID: use decimal digits for a value from 1 to 18446744073709551615 (leading zeros are accepted), as a JSON string or number.',
      );
      await expectNothingKept(sender.xuid);
    });
  });

  describe('404', () => {
    it.each([
      ['has punctuation', 'bad!tag'],
      ['has 16 characters', 'a'.repeat(16)],
      ['is empty', ''],
      ['ends with a space', 'Trailing '],
      ['has two spaces in a row', 'two  spaces'],
    ])('should answer 404 when a gamertag %s', async (_, gamertag) => {
      const sender = await createUser(adminUrl);
      const response = await send(url, sender.xuid, [{ xuid: sender.xuid }, { gamertag }]);
      expectError(
        response,
        404,
        'outbox',
        4006,
        `header.recipients[1].gamertag is not a valid gamertag: it must be ${GAMERTAG_RULE}.`,
      );
      await expectNothingKept(sender.xuid);
    });

    it('should answer 404 when a gamertag is not a string', async () => {
      const sender = await createUser(adminUrl);
      const response = await postRaw(sender.xuid, '{"header":{"recipients":[{"gamertag":12345}]},"messageText":"hi"}');
      expectError(
        response,
        404,
        'outbox',
        4006,
        `header.recipients[0].gamertag is not a valid gamertag: it must be ${GAMERTAG_RULE}.`,
      );
    });

    it('should answer 404 naming the gamertag when no user has it', async () => {
      const sender = await createUser(adminUrl);
      const known = await createUser(adminUrl);
      const unknown = uniqueGamertag('U');
      const response = await send(url, sender.xuid, [{ gamertag: known.gamertag }, { gamertag: unknown }]);
      expectError(response, 404, 'outbox', 4007, `No user has the gamertag "${unknown}".`);
      await expectNothingKept(sender.xuid);
    });

    it('should answer 404 naming the XUID when no user has it, whatever form it was written in', async () => {
      const sender = await createUser(adminUrl);
      const unknown = uniqueXuid();
      const body = `{"header":{"recipients":[{"xuid":${unknown}}]},"messageText":"hi"}`;
      expectError(await postRaw(sender.xuid, body), 404, 'outbox', 4007, `No user has XUID ${unknown}.`);
      expectError(
        await send(url, sender.xuid, [{ xuid: `00${unknown}` }]),
        404,
        'outbox',
        4007,
        `No user has XUID ${unknown}.`,
      );
      await expectNothingKept(sender.xuid);
    });
  });

  describe('413', () => {
    it('should answer 413 when the body is larger than 64 KiB', async () => {
      const sender = await createUser(adminUrl);
      const body = padTo(64 * 1024 + 1, { header: { recipients: [{ xuid: sender.xuid }] }, messageText: 'big body' });
      expect(Buffer.byteLength(body)).toBe(65537);
      const response = await postRaw(sender.xuid, body);
      expectError(response, 413, 'gateway', 1004, 'The request body is larger than 64 KiB (65536 bytes); send a smaller body.');
      await expectNothingKept(sender.xuid);
    });
  });

  describe('500', () => {
    it('should answer 500 and give the quota back when the message cannot be stored', async () => {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      // Make every insert of this sender's messages fail, as a broken store would.
      const name = `outbox_test_refuse_${sender.xuid}`;
      await rows.query(
        `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`,
      );
      await rows.query(
        `CREATE TRIGGER ${name} BEFORE INSERT ON messages FOR EACH ROW
           WHEN (NEW.sender_xuid = ${sender.xuid}::numeric) EXECUTE FUNCTION ${name}()`,
      );
      let response;
      try {
        response = await send(url, sender.xuid, [{ xuid: recipient.xuid }]);
      } finally {
        await rows.query(`DROP TRIGGER ${name} ON messages`);
        await rows.query(`DROP FUNCTION ${name}()`);
      }

      expectError(response, 500, 'gateway', 1000, /^An unexpected server error occurred\. Error id: [0-9a-f-]{36}\.$/);
      expect(response.text).not.toContain('refused by test');
      expect(await rows.countOf(sender.xuid)).toBe(0);
      // The reserve was recorded (the sums exist) and then released, leaving
      // only its tombstone's counts (a late reserve of it is refused).
      expect(await quota.redis.hgetall(quota.keysOf(sender.xuid).sums)).toEqual({
        messages: '0',
        recipients: '0',
        strangers: '0',
      });
      expect(await quota.logSize(sender.xuid)).toEqual({ log: 0, data: 1 });

      expect((await send(url, sender.xuid, [{ xuid: recipient.xuid }])).status).toBe(200);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
    });
  });

  describe('503', () => {
    it('should answer 503 with Retry-After when storing outlasts the statement timeout, and charge nothing', async () => {
      const bounded = await startGateway({
        QUOTA_PORT: stack.quota.rpcPort,
        REDIS_PREFIX: prefix,
        DATABASE_STATEMENT_TIMEOUT_MS: 300,
      });
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const name = `hang_insert_${sender.xuid}`;
      await rows.query(
        `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$`,
      );
      await rows.query(
        `CREATE TRIGGER ${name} BEFORE INSERT ON messages FOR EACH ROW
           WHEN (NEW.sender_xuid = ${sender.xuid}::numeric) EXECUTE FUNCTION ${name}()`,
      );
      let response;
      try {
        response = await send(bounded.url, sender.xuid, [{ xuid: recipient.xuid }]);
      } finally {
        await rows.query(`DROP TRIGGER ${name} ON messages`);
        await rows.query(`DROP FUNCTION ${name}()`);
        await bounded.close();
      }

      expectError(response, 503, 'gateway', 1006, 'A dependency is unavailable; retry later.');
      expect(response.headers.get('retry-after')).toBe('1');
      await expectNothingKept(sender.xuid);
    });

    it('should answer 503 with Retry-After and store nothing when the quota service is down', async () => {
      const down = await startGateway({ QUOTA_PORT: await freePort(), REDIS_PREFIX: prefix });
      try {
        const sender = await createUser(adminUrl);
        const recipient = await createUser(adminUrl);

        const response = await send(down.url, sender.xuid, [{ xuid: recipient.xuid }]);

        expectError(response, 503, 'gateway', 1006, 'The quota service is unavailable; retry later.');
        expect(response.headers.get('retry-after')).toBe('1');
        await expectNothingKept(sender.xuid);
      } finally {
        await down.close();
      }
    });

    it('should answer 503 with Retry-After and store nothing when the quota service cannot reach Redis', async () => {
      const redis = new URL(testRedisUrl());
      const proxy = await new TcpProxy(redis.hostname, Number(redis.port || 6379)).start();
      let quotaBehind: Awaited<ReturnType<typeof startQuota>> | undefined;
      let gateway: RunningService | undefined;
      try {
        quotaBehind = await startQuota({ REDIS_URL: proxy.rewrite(testRedisUrl()), REDIS_PREFIX: prefix });
        gateway = await startGateway({ QUOTA_PORT: quotaBehind.rpcPort, REDIS_PREFIX: prefix });
        const sender = await createUser(adminUrl);
        const recipient = await createUser(adminUrl);
        await proxy.stop();

        const response = await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }]);

        expectError(response, 503, 'gateway', 1006, 'The quota service is unavailable; retry later.');
        expect(response.headers.get('retry-after')).toBe('1');
        await expectNothingKept(sender.xuid);
      } finally {
        // Let quota reconnect first, so that it shuts down cleanly.
        await proxy.start();
        if (quotaBehind)
          await until(async () => (await fetch(`${quotaBehind!.url}/readyz`)).status === 200, 'quota to be ready');
        await gateway?.close();
        await quotaBehind?.close();
        await proxy.stop();
      }
    });

    it('should give the quota back when the reserve is recorded after the gateway gave up on it', async () => {
      const redis = new URL(testRedisUrl());
      const proxy = await new PausableProxy(redis.hostname, Number(redis.port || 6379)).start();
      let quotaBehind: Awaited<ReturnType<typeof startQuota>> | undefined;
      let gateway: RunningService | undefined;
      try {
        quotaBehind = await startQuota({ REDIS_URL: proxy.url(testRedisUrl()), REDIS_PREFIX: prefix });
        gateway = await startGateway({ QUOTA_PORT: quotaBehind.rpcPort, QUOTA_TIMEOUT_MS: 200, REDIS_PREFIX: prefix });
        const sender = await createUser(adminUrl);
        const recipient = await createUser(adminUrl);
        proxy.pause();

        const response = await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }]);

        expectError(response, 503, 'gateway', 1006, 'The quota service is unavailable; retry later.');
        expect(response.headers.get('retry-after')).toBe('1');
        // Redis is slow, not gone: the reserve waits in the proxy, with whatever followed it.
        await until(() => proxy.held(/\r\neval(sha)?\r\n/gi) >= 2, 'the reserve and the release to reach Redis');
        proxy.resume();
        const sums = quota.keysOf(sender.xuid).sums;
        await until(async () => (await quota.redis.hget(sums, 'messages')) === '0', 'the late reserve to be released');
        expect(await quota.redis.hgetall(sums)).toEqual({ messages: '0', recipients: '0', strangers: '0' });
        expect(await rows.countOf(sender.xuid)).toBe(0);
      } finally {
        proxy.resume();
        await gateway?.close();
        await quotaBehind?.close();
        await proxy.stop();
      }
    });
  });
});

/** A TCP proxy that can hold back what clients send (Redis looks slow) and later pass it on in order. */
class PausableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private paused = false;
  private readonly pending: { upstream: Socket; chunk: Buffer }[] = [];
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk: Buffer) => (this.paused ? this.pending.push({ upstream, chunk }) : upstream.write(chunk)));
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  pause(): void {
    this.paused = true;
  }

  /** How often `pattern` occurs in what is held back. */
  held(pattern: RegExp): number {
    return (
      this.pending
        .map(({ chunk }) => chunk.toString('latin1'))
        .join('')
        .match(pattern)?.length ?? 0
    );
  }

  resume(): void {
    this.paused = false;
    for (const { upstream, chunk } of this.pending.splice(0)) upstream.write(chunk);
  }

  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls `condition` every 10 ms for up to 3 s. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** JSON of `value` with a padding property that brings it to exactly `bytes` bytes. */
function padTo(bytes: number, value: object): string {
  const empty = JSON.stringify({ ...value, padding: '' });
  return JSON.stringify({ ...value, padding: 'x'.repeat(bytes - Buffer.byteLength(empty)) });
}
