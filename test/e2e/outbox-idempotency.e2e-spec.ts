import { randomBytes } from 'node:crypto';
import { Xuid } from '@app/shared/xuid';
import { OutboxRows, outboxPath, postOutbox, QuotaKeys, Recipient, send, SendResponse } from '../factories/outbox.factory';
import { bearer, createUser, uniqueGamertag } from '../factories/users.factory';
import { freePort } from '../setup/free-port';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { startGateway, startStack } from '../setup/services';

const uniqueKey = (): string => `key-${randomBytes(8).toString('hex')}`;

describe('POST outbox with an Idempotency-Key', () => {
  const prefix = privateRedisPrefix('idempotency');
  let stack: Awaited<ReturnType<typeof startStack>>;
  let url: string;
  let adminUrl: string;
  let rows: OutboxRows;
  let quota: QuotaKeys;

  beforeAll(async () => {
    stack = await startStack({ gateway: { REDIS_PREFIX: prefix }, quota: { REDIS_PREFIX: prefix } });
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
    rows = await OutboxRows.open();
    quota = new QuotaKeys(prefix);
  });

  afterAll(async () => {
    await quota?.close();
    await rows?.close();
    await stack?.close();
  });

  const sendWithKey = (
    sender: Xuid,
    recipients: Recipient[],
    key: string,
    options: { text?: string; baseUrl?: string } = {},
  ): Promise<SendResponse> =>
    send(options.baseUrl ?? url, sender, recipients, { text: options.text, headers: { 'idempotency-key': key } });

  async function keyRecord(sender: string, key: string): Promise<unknown[]> {
    return rows.query(`SELECT status_code, message_id FROM idempotency_keys WHERE sender_xuid = $1 AND key = $2`, [
      sender,
      key,
    ]);
  }

  it('should answer 200 to a replay with the same key and body, storing and charging once', async () => {
    const sender = await createUser(adminUrl);
    const recipient = await createUser(adminUrl);
    const key = uniqueKey();

    const first = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key);
    const replay = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key);

    expect([first.status, first.text, replay.status, replay.text]).toEqual([200, '', 200, '']);
    const stored = await rows.messagesOf(sender.xuid);
    expect(stored.length).toBe(1);
    expect(await keyRecord(sender.xuid, key)).toEqual([{ status_code: 200, message_id: stored[0].id }]);
    expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
  });

  it('should treat bodies that differ only in key order and spacing as the same request', async () => {
    const sender = await createUser(adminUrl);
    const recipient = await createUser(adminUrl);
    const key = uniqueKey();
    const headers = { ...(await bearer(sender.xuid)), 'content-type': 'application/json', 'idempotency-key': key };
    const compact = `{"header":{"recipients":[{"xuid":${recipient.xuid}}]},"messageText":"same"}`;
    const spaced = `{ "messageText" : "same",\n  "header" : { "recipients" : [ { "xuid" : ${recipient.xuid} } ] } }`;

    expect((await postOutbox(url, outboxPath(sender.xuid), compact, headers)).status).toBe(200);
    expect((await postOutbox(url, outboxPath(sender.xuid), spaced, headers)).status).toBe(200);

    expect(await rows.countOf(sender.xuid)).toBe(1);
  });

  it('should answer 422 when the same key comes with a different body, sending nothing more', async () => {
    const sender = await createUser(adminUrl);
    const recipient = await createUser(adminUrl);
    const key = uniqueKey();
    expect((await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key, { text: 'first' })).status).toBe(200);

    const reused = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key, { text: 'second' });

    expect({ status: reused.status, body: reused.body }).toEqual({
      status: 422,
      body: {
        errorSource: 'outbox',
        errorCode: 4010,
        errorMessage:
          'This Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new request.',
      },
    });
    expect((await rows.messagesOf(sender.xuid)).map((message) => message.text)).toEqual(['first']);
    expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
  });

  it('should answer 200 to 10 concurrent duplicates, storing one message and charging once', async () => {
    const sender = await createUser(adminUrl);
    const recipients = [await createUser(adminUrl), await createUser(adminUrl)];
    const key = uniqueKey();

    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        sendWithKey(
          sender.xuid,
          recipients.map((user) => ({ xuid: user.xuid })),
          key,
        ),
      ),
    );

    expect(responses.map((response) => [response.status, response.text])).toEqual(Array(10).fill([200, '']));
    expect(await rows.countOf(sender.xuid)).toBe(1);
    expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 2, strangers: 2 });
    expect(await quota.logSize(sender.xuid)).toEqual({ log: 1, data: 1 });
  });

  it.each([
    ['256 characters', 'k'.repeat(256), 'it has 256 characters'],
    ['an inner space', 'two words', 'it has a space, a control or a non-ASCII character'],
    ['a non-ASCII character', 'clé', 'it has a space, a control or a non-ASCII character'],
    ['a control character', 'tab\there', 'it has a space, a control or a non-ASCII character'],
  ])('should answer 400 when the key has %s', async (_, key, why) => {
    const sender = await createUser(adminUrl);
    const recipient = await createUser(adminUrl);

    const response = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key);

    expect({ status: response.status, body: response.body }).toEqual({
      status: 400,
      body: {
        errorSource: 'outbox',
        errorCode: 4009,
        errorMessage: `Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces), such as a UUID; ${why}.`,
      },
    });
    expect(await rows.countOf(sender.xuid)).toBe(0);
    expect(await quota.usage(sender.xuid)).toEqual({ messages: 0, recipients: 0, strangers: 0 });
  });

  it('should never store two messages for one key when a retry takes over a claim whose request is still running', async () => {
    const sender = await createUser(adminUrl);
    const recipient = await createUser(adminUrl);
    const key = uniqueKey();
    const name = `slow_first_insert_${sender.xuid}`;
    // The first INSERT of this sender's messages stalls for 2 s: the original request is slow, not dead.
    await rows.query(`CREATE SEQUENCE ${name}_seq`);
    await rows.query(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF nextval('${name}_seq') = 1 THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$`,
    );
    await rows.query(
      `CREATE TRIGGER ${name} BEFORE INSERT ON messages FOR EACH ROW
         WHEN (NEW.sender_xuid = ${sender.xuid}::numeric) EXECUTE FUNCTION ${name}()`,
    );
    let original: SendResponse;
    let retry: SendResponse;
    try {
      const first = sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key);
      // Once its claim exists, make it look abandoned (older than the takeover age).
      for (let i = 0; i < 200 && (await keyRecord(sender.xuid, key)).length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      await rows.query(
        `UPDATE idempotency_keys SET created_at = created_at - interval '61 seconds' WHERE sender_xuid = $1 AND key = $2`,
        [sender.xuid, key],
      );
      retry = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key);
      original = await first;
    } finally {
      await rows.query(`DROP TRIGGER ${name} ON messages`);
      await rows.query(`DROP FUNCTION ${name}()`);
      await rows.query(`DROP SEQUENCE ${name}_seq`);
    }

    // The retry took the key over and sent; the original, having lost its claim, stored nothing.
    expect(retry.status).toBe(200);
    expect(original.status).toBe(503);
    expect(original.headers.get('retry-after')).toBe('1');
    const stored = await rows.messagesOf(sender.xuid);
    expect(stored.length).toBe(1);
    expect(await keyRecord(sender.xuid, key)).toEqual([{ status_code: 200, message_id: stored[0].id }]);
    expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
    // And the original's own retry gets the stored result.
    expect((await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key)).status).toBe(200);
    expect(await rows.countOf(sender.xuid)).toBe(1);
  });

  it('should accept a key of 255 visible ASCII characters', async () => {
    const sender = await createUser(adminUrl);
    const key = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x21 + (i % 94))).join('');
    expect((await sendWithKey(sender.xuid, [{ xuid: sender.xuid }], key)).status).toBe(200);
    expect((await sendWithKey(sender.xuid, [{ xuid: sender.xuid }], key)).status).toBe(200);
    expect(await rows.countOf(sender.xuid)).toBe(1);
  });

  it('should let different senders use the same key independently', async () => {
    const [a, b] = [await createUser(adminUrl), await createUser(adminUrl)];
    const recipient = await createUser(adminUrl);
    const key = uniqueKey();

    expect((await sendWithKey(a.xuid, [{ xuid: recipient.xuid }], key, { text: 'from a' })).status).toBe(200);
    expect((await sendWithKey(b.xuid, [{ xuid: recipient.xuid }], key, { text: 'from b' })).status).toBe(200);

    expect((await rows.messagesOf(a.xuid)).map((message) => message.text)).toEqual(['from a']);
    expect((await rows.messagesOf(b.xuid)).map((message) => message.text)).toEqual(['from b']);
  });

  it('should not remember a failed first attempt: a retry runs again, and succeeds once the cause is fixed', async () => {
    const sender = await createUser(adminUrl);
    const gamertag = uniqueGamertag('L');
    const key = uniqueKey();
    const notFound = {
      status: 404,
      body: { errorSource: 'outbox', errorCode: 4007, errorMessage: `No user has the gamertag "${gamertag}".` },
    };

    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await sendWithKey(sender.xuid, [{ gamertag }], key);
      expect({ status: response.status, body: response.body }).toEqual(notFound);
    }
    expect(await keyRecord(sender.xuid, key)).toEqual([]);

    const recipient = await createUser(adminUrl, { gamertag });
    expect((await sendWithKey(sender.xuid, [{ gamertag }], key)).status).toBe(200);
    expect((await rows.messagesOf(sender.xuid)).map((message) => message.recipients)).toEqual([[recipient.xuid]]);
  });

  it('should not remember a 409 either: the same key is refused again while the limit holds', async () => {
    const limited = await startStack({
      gateway: { REDIS_PREFIX: prefix },
      quota: { REDIS_PREFIX: prefix, LIMIT_MESSAGES_PER_DAY: 1 },
    });
    try {
      const sender = await createUser(adminUrl);
      expect(
        (await sendWithKey(sender.xuid, [{ xuid: sender.xuid }], uniqueKey(), { baseUrl: limited.gateway.url })).status,
      ).toBe(200);
      const key = uniqueKey();
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await sendWithKey(sender.xuid, [{ xuid: sender.xuid }], key, { baseUrl: limited.gateway.url });
        expect([response.status, response.body?.errorCode]).toEqual([409, 5002]);
      }
      expect(await keyRecord(sender.xuid, key)).toEqual([]);
      expect(await rows.countOf(sender.xuid)).toBe(1);
    } finally {
      await limited.close();
    }
  });

  it('should release the key when the quota service is down, so a retry can succeed', async () => {
    const down = await startGateway({ QUOTA_PORT: await freePort(), REDIS_PREFIX: prefix });
    try {
      const sender = await createUser(adminUrl);
      const recipient = await createUser(adminUrl);
      const key = uniqueKey();

      const failed = await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key, { baseUrl: down.url });
      expect([failed.status, failed.headers.get('retry-after')]).toEqual([503, '1']);
      expect(await keyRecord(sender.xuid, key)).toEqual([]);

      expect((await sendWithKey(sender.xuid, [{ xuid: recipient.xuid }], key)).status).toBe(200);
      expect(await rows.countOf(sender.xuid)).toBe(1);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
    } finally {
      await down.close();
    }
  });
});
