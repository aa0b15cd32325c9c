import { Job, Queue } from 'bullmq';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BROADCAST_QUEUE, DeliverChunkJob } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { BROADCAST_SQL } from '../../apps/delivery/src/broadcast.repository';
import { broadcastRequest, BroadcastRows, postSystemMessage, waitForBroadcast } from '../factories/broadcast.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { bearer, block, createUser, createUsers, TestUser, uniqueXuid } from '../factories/users.factory';
import { cleanupsAfterEach } from '../setup/cleanups';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, startDelivery, startGateway, startStack } from '../setup/services';
import { testDatabaseUrl, testRedisUrl } from '../setup/test-env';

const SYSTEM = { SYSTEM_SENDER_XUID: '7777', SYSTEM_SENDER_GAMERTAG: 'LIVE System' };

/**
 * System messages (docs/api.md, System messages): the admin API on the
 * internal port stores a broadcast and its chunks; delivery workers write
 * them, ignoring privacy and blocks.
 */
describe('system messages: POST/GET/DELETE /admin/system-messages', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let gateway: RunningGateway;
  let rows: BroadcastRows;
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    stack = await startStack({ gateway: SYSTEM });
    gateway = stack.gateway;
    rows = await BroadcastRows.open(testDatabaseUrl());
  });

  afterAll(async () => {
    await rows?.close();
    await stack?.close();
  });

  describe('to a list', () => {
    it('should reach every listed recipient, also one who refuses everyone, one in friends-only mode and one who blocks many', async () => {
      const delivery = await startDelivery();
      cleanups.push(() => delivery.close());
      const plain = await createUser(gateway.internalUrl);
      const refusesAll = await createUser(gateway.internalUrl, { communication: 'blocked' });
      const friendsOnly = await createUser(gateway.internalUrl, { communication: 'friends' });
      const blocker = await createUser(gateway.internalUrl);
      for (const other of [plain, refusesAll, friendsOnly]) await block(gateway.internalUrl, blocker.xuid, other.xuid);
      const recipients = [plain, refusesAll, friendsOnly, blocker];
      const text = `Season 3 starts Friday 🎮 ${uniqueXuid()}`;

      const created = await postSystemMessage(gateway.internalUrl, {
        subject: 'Patch notes 1.2 🎉',
        messageText: text,
        // Numbers and strings, a repeat counted once.
        recipients: [plain.xuid, refusesAll.xuid, friendsOnly.xuid, blocker.xuid, plain.xuid],
      });

      expect(created.status).toBe(202);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[0-9A-Z]{26}$/),
        state: 'queued',
        subject: 'Patch notes 1.2 🎉',
        recipients: 'list',
        targeted: 4,
        delivered: 0,
        chunks: 1,
        chunksDone: 0,
        created: expect.any(String),
        finished: null,
        expiration: expect.any(String),
      });
      const id = created.body.id as string;
      expect(Date.parse(created.body.expiration) - Date.parse(created.body.created)).toBe(2_592_000_000);
      const done = await waitForBroadcast(gateway.internalUrl, id, (body) => body.state === 'done');
      expect(done).toMatchObject({
        state: 'done',
        targeted: 4,
        delivered: 4,
        chunks: 1,
        chunksDone: 1,
        finished: expect.any(String),
      });

      for (const user of recipients) {
        const auth = await bearer(user.xuid);
        const inbox = await request(gateway.url, 'GET', inboxPath(user.xuid), auth);
        expect(inbox.status).toBe(200);
        expect(inbox.body.results).toEqual([
          {
            header: {
              id,
              isRead: false,
              sent: created.body.created,
              expiration: created.body.expiration,
              messageType: 'System',
              senderXuid: '7777',
              sender: 'LIVE System',
              hasAudio: false,
              hasPhoto: false,
              hasText: true,
              messageFolderType: 'Inbox',
            },
            messageSummary: 'Patch notes 1.2 🎉',
          },
        ]);
        expect(inbox.body.pagingInfo.totalItems).toBe(1);
        const detail = await request(gateway.url, 'GET', `${inboxPath(user.xuid)}/${id}`, auth);
        expect(detail.status).toBe(200);
        expect(detail.body).toMatchObject({
          header: { messageType: 'System', senderXuid: '7777', sender: 'LIVE System' },
          messageText: text,
        });
      }
      expect(
        await rows.entriesPerRecipient(
          id,
          recipients.map((user) => user.xuid),
        ),
      ).toEqual(new Map(recipients.map((user) => [user.xuid, 1])));
    });

    it('should answer a retry with the same Idempotency-Key with the same broadcast, and a changed body with 422', async () => {
      const user = await createUser(gateway.internalUrl);
      const key = `bc-${uniqueXuid()}`;
      const body = { subject: 'Event', messageText: `Double XP ${key}`, recipients: [user.xuid] };

      const first = await postSystemMessage(gateway.internalUrl, body, { 'idempotency-key': key });
      // Same body, keys in another order: the same request.
      const retry = await postSystemMessage(
        gateway.internalUrl,
        { recipients: [user.xuid], messageText: body.messageText, subject: 'Event' },
        { 'idempotency-key': key },
      );
      const changed = await postSystemMessage(gateway.internalUrl, { ...body, subject: 'Other' }, { 'idempotency-key': key });

      expect(first.status).toBe(202);
      expect(retry.status).toBe(202);
      expect(retry.body.id).toBe(first.body.id);
      expect(changed).toEqual({
        status: 422,
        body: { errorSource: 'admin', errorCode: 7018, errorMessage: expect.stringContaining('different request') },
      });
      expect(await rows.broadcastsWithKey(key)).toBe(1);
      expect(await rows.messagesWithText(body.messageText)).toBe(1);
    });

    it('should stop a cancelled broadcast at the chunks written so far, and keep those', async () => {
      // A namespace no worker reads: chunks are written here by hand, then a worker meets the rest after the cancel.
      const prefix = privateRedisPrefix('bccancel');
      cleanups.push(() => deleteRedisKeys(prefix));
      const own = await startGateway({
        ...SYSTEM,
        QUOTA_PORT: stack.quota.rpcPort,
        REDIS_PREFIX: prefix,
        BROADCAST_CHUNK_SIZE: 2,
      });
      cleanups.push(() => own.close());
      const users = await createUsers(gateway.internalUrl, 6);
      const sorted = users.map((user) => user.xuid).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));

      const created = await postSystemMessage(own.internalUrl, {
        subject: 'Maintenance',
        messageText: 'Servers down at 02:00 UTC',
        recipients: users.map((user) => user.xuid),
      });
      expect(created.body).toMatchObject({ state: 'queued', targeted: 6, chunks: 3 });
      const id = created.body.id as string;
      await rows.query(BROADCAST_SQL.writeChunk.text, [id, 0]);

      const cancelled = await broadcastRequest(own.internalUrl, 'DELETE', id);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ state: 'cancelled', targeted: 6, delivered: 2, chunks: 3, chunksDone: 1 });

      const queue = new Queue<DeliverChunkJob>(BROADCAST_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix });
      cleanups.push(() => queue.close());
      const delivery = await startDelivery({ REDIS_PREFIX: prefix });
      cleanups.push(() => delivery.close());
      const finished = await waitForJobs(queue, 3);
      expect(finished.map((job) => job.returnvalue)).toEqual([
        { outcome: 'skipped', written: 0 },
        { outcome: 'skipped', written: 0 },
        { outcome: 'skipped', written: 0 },
      ]);

      expect(await rows.entriesPerRecipient(id, sorted)).toEqual(new Map(sorted.slice(0, 2).map((xuid) => [xuid, 1])));
      expect((await broadcastRequest(own.internalUrl, 'GET', id)).body).toMatchObject({ state: 'cancelled', delivered: 2 });
      // Cancelling again changes nothing.
      expect((await broadcastRequest(own.internalUrl, 'DELETE', id)).body).toMatchObject({ state: 'cancelled', delivered: 2 });
    });
  });

  describe('npm run broadcast', () => {
    it('should send to the XUIDs of a file and show progress until done', async () => {
      const delivery = await startDelivery();
      cleanups.push(() => delivery.close());
      const users = await createUsers(gateway.internalUrl, 3);
      const dir = mkdtempSync(join(tmpdir(), 'broadcast-'));
      cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
      const file = join(dir, 'xuids.txt');
      writeFileSync(file, `# players\n${users.map((user) => user.xuid).join('\n')}\n\n`);
      const text = `From the CLI ${uniqueXuid()}`;

      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          '-r',
          'tsconfig-paths/register',
          'scripts/broadcast.ts',
          '--subject',
          'CLI news',
          '--text',
          text,
          '--to',
          file,
        ],
        {
          cwd: resolve(__dirname, '../..'),
          env: { PATH: process.env.PATH ?? '', ADMIN_URL: gateway.internalUrl },
          timeout: 45_000,
        },
      );

      const lines = stdout.trim().split('\n');
      const [, id] = /^broadcast (\S+): 3 recipients in 1 chunks$/.exec(lines[0]) ?? [];
      expect(id).toEqual(expect.any(String));
      expect(lines[lines.length - 1]).toMatch(/^\[#{30}\] 100\.0 % 3\/3 entries, chunk 1\/1, \d+\/s, done$/);
      expect(
        await rows.entriesPerRecipient(
          id,
          users.map((user) => user.xuid),
        ),
      ).toEqual(new Map(users.map((user) => [user.xuid, 1])));
    });
  });

  describe('bad input', () => {
    let user: TestUser;

    beforeAll(async () => {
      user = await createUser(gateway.internalUrl);
    });

    const valid = () => ({ subject: 'Hi', messageText: 'Hello', recipients: [user.xuid] });

    it.each([
      ['subject missing', { subject: undefined }, 7011, 'subject is missing'],
      ['subject empty', { subject: '' }, 7011, 'it has 0'],
      ['subject of 21 code points', { subject: '😀'.repeat(21) }, 7011, 'it has 21'],
      ['subject not a string', { subject: 5 }, 7011, 'it is a number'],
      ['messageText empty', { messageText: '' }, 7012, 'messageText must be 1 to 250'],
      ['messageText of 251 code points', { messageText: 'x'.repeat(251) }, 7012, 'it has 251'],
      ['messageText a list', { messageText: ['x'] }, 7012, 'it is a list'],
      ['recipients missing', { recipients: undefined }, 7013, 'it is missing'],
      ['recipients empty', { recipients: [] }, 7013, '0 were given'],
      ['recipients "everyone"', { recipients: 'everyone' }, 7013, 'it is a string'],
      ['recipients with a bad XUID', { recipients: ['12', 'abc'] }, 7013, 'recipients[1] cannot be converted'],
      ['expiresInSeconds 0', { expiresInSeconds: 0 }, 7014, 'it is 0'],
      ['expiresInSeconds past the lifetime', { expiresInSeconds: 2_592_001 }, 7014, 'from 1 to 2592000'],
      ['an unknown field', { priority: 'high' }, 7010, '"priority"'],
    ])('should refuse %s with 400 naming the field', async (_label, change, code, message) => {
      const response = await postSystemMessage(gateway.internalUrl, { ...valid(), ...change });
      expect(response).toEqual({
        status: 400,
        body: { errorSource: 'admin', errorCode: code, errorMessage: expect.stringContaining(message) },
      });
    });

    it('should refuse a subject with a lone surrogate (invalid Unicode)', async () => {
      const body = `{"subject":"bad \\ud800","messageText":"x","recipients":["${user.xuid}"]}`;
      const response = await postSystemMessage(gateway.internalUrl, body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ errorCode: 7011, errorMessage: expect.stringContaining('unpaired surrogate') });
    });

    it('should refuse more than 10,000 listed recipients with 400, in a body over 64 KiB', async () => {
      const recipients = Array.from({ length: 10_001 }, (_, k) => String(2_533_274_800_000_000n + BigInt(k)));
      const response = await postSystemMessage(gateway.internalUrl, { ...valid(), recipients });
      expect(response).toEqual({
        status: 400,
        body: { errorSource: 'admin', errorCode: 7013, errorMessage: expect.stringContaining('10001 were given') },
      });
    });

    it("should answer a body over 1 MiB 413 naming this route's limit, not the 64 KiB of the others", async () => {
      const response = await postSystemMessage(gateway.internalUrl, { ...valid(), padding: 'x'.repeat(1024 * 1024) });
      expect(response).toEqual({
        status: 413,
        body: {
          errorSource: 'gateway',
          errorCode: 1004,
          errorMessage: 'The request body is larger than 1 MiB (1048576 bytes); send a smaller body.',
        },
      });
    });

    it('should answer 404 listing every unknown XUID, and send nothing', async () => {
      const [a, b] = [uniqueXuid(), uniqueXuid()].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
      const text = `never sent ${a}`;
      const response = await postSystemMessage(gateway.internalUrl, {
        ...valid(),
        messageText: text,
        recipients: [b, user.xuid, a],
      });
      expect(response).toEqual({
        status: 404,
        body: {
          errorSource: 'admin',
          errorCode: 7015,
          errorMessage: expect.stringContaining('2 of the 3 recipients are not in the directory'),
          unknownXuids: [a, b],
        },
      });
      expect(await rows.messagesWithText(text)).toBe(0);
    });

    it('should answer 404 for a broadcast id that does not exist, for GET and DELETE', async () => {
      for (const method of ['GET', 'DELETE'] as const) {
        for (const id of ['01JC8Z9G4W5N7Q2R3S4T5V6W7X', 'not*an*id']) {
          expect(await broadcastRequest(gateway.internalUrl, method, id)).toEqual({
            status: 404,
            body: { errorSource: 'admin', errorCode: 7016, errorMessage: expect.stringContaining('No broadcast has this id') },
          });
        }
      }
    });

    it('should refuse a malformed Idempotency-Key and a missing admin token, and be absent from the public port', async () => {
      const badKey = await postSystemMessage(gateway.internalUrl, valid(), { 'idempotency-key': 'has space' });
      expect(badKey.body).toMatchObject({ errorCode: 7017 });
      expect(badKey.status).toBe(400);
      const anonymous = await fetch(`${gateway.internalUrl}/admin/system-messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(valid()),
      });
      expect(anonymous.status).toBe(401);
      const publicPort = await postSystemMessage(gateway.url, valid());
      expect(publicPort.status).toBe(404);
    });
  });
});

/** Waits until `count` jobs of the queue completed; returns them by chunk. */
async function waitForJobs(queue: Queue<DeliverChunkJob>, count: number): Promise<Job<DeliverChunkJob>[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const jobs = await queue.getJobs(['completed']);
    if (jobs.length >= count) return jobs.sort((a, b) => a.data.chunk - b.data.chunk);
    if (Date.now() > deadline) throw new Error(`only ${jobs.length} of ${count} chunk jobs completed`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}
