import { Pool } from 'pg';
import { poolOptions } from '@app/shared/database';
import { runMigrations } from '@app/shared/database/migrate';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows } from '../factories/delivery.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer, createUser, TestUser } from '../factories/users.factory';
import { PgBouncer, pgbouncerVersion, startPgBouncer } from '../setup/pgbouncer';
import {
  RunningGateway,
  RunningQuota,
  RunningService,
  Settings,
  startDelivery,
  startGateway,
  startQuota,
} from '../setup/services';
import { testDatabaseUrl } from '../setup/test-env';

// Fewer server connections than the services' pools hold clients (4 + 4):
// PgBouncer really hands one server connection to many clients, transaction by transaction.
const SERVER_CONNECTIONS = 3;

/**
 * The services unchanged behind a real PgBouncer (the installed Debian
 * package, 1.18 here) in transaction pooling mode: no session state survives
 * a transaction, named prepared statements are off (PgBouncer before 1.21
 * cannot keep them), and the connection settings come from PgBouncer's
 * connect_query instead of startup parameters, which PgBouncer refuses.
 */
describe('behind PgBouncer in transaction pooling mode', () => {
  let pgbouncer: PgBouncer;
  let quota: RunningQuota;
  let gateway: RunningGateway;
  let delivery: RunningService;
  let rows: DeliveryRows;
  let pooled: Settings;

  beforeAll(async () => {
    pgbouncer = await startPgBouncer(testDatabaseUrl(), { poolSize: SERVER_CONNECTIONS, statementTimeoutMs: 5000 });
    pooled = {
      DATABASE_URL: pgbouncer.rewrite(testDatabaseUrl()),
      DATABASE_PREPARED_STATEMENTS: 'false',
      DATABASE_STARTUP_PARAMETERS: 'false',
    };
    quota = await startQuota(pooled);
    [gateway, delivery, rows] = await Promise.all([
      startGateway({ ...pooled, QUOTA_PORT: quota.rpcPort }),
      startDelivery(pooled),
      DeliveryRows.open(),
    ]);
  });

  afterAll(async () => {
    await gateway?.close();
    await delivery?.close();
    await quota?.close();
    await rows?.close();
    await pgbouncer?.stop();
  });

  async function inbox(xuid: Xuid, query = '') {
    return request(gateway.url, 'GET', inboxPath(xuid, query), await bearer(xuid));
  }

  async function listedEventually(xuid: Xuid, count: number) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const response = await inbox(xuid);
      if (response.status === 200 && response.body.pagingInfo.totalItems >= count) return response;
      if (Date.now() > deadline) throw new Error(`inbox of ${xuid}: ${response.status} ${response.text}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('should run the installed Debian PgBouncer', () => {
    expect(pgbouncerVersion()).toMatch(/^1\.\d+\.\d+$/);
  });

  it('should send, deliver, list, read and delete through the pooler', async () => {
    const [sender, recipient] = await Promise.all([createUser(gateway.internalUrl), createUser(gateway.internalUrl)]);

    const sent = await send(gateway.url, sender.xuid, [{ gamertag: recipient.gamertag.toUpperCase() }], {
      text: 'pooled hello',
    });
    expect(sent.status).toBe(200);
    expect(sent.text).toBe('');

    const listed = await listedEventually(recipient.xuid, 1);
    const [stored] = await rows.query<{ id: string; sender_xuid: string }>(
      'SELECT id, sender_xuid FROM messages WHERE sender_xuid = $1',
      [sender.xuid],
    );
    expect(listed.body).toEqual({
      results: [
        {
          header: expect.objectContaining({ id: stored.id, isRead: false, senderXuid: sender.xuid, sender: sender.gamertag }),
          messageSummary: 'pooled hello',
        },
      ],
      pagingInfo: { continuationToken: null, totalItems: 1 },
    });

    const read = await request(gateway.url, 'GET', inboxPath(recipient.xuid, `/${stored.id}`), await bearer(recipient.xuid));
    expect(read.status).toBe(200);
    expect(read.body).toEqual({
      header: expect.objectContaining({ messageType: 'User', senderXuid: sender.xuid, sender: sender.gamertag }),
      messageText: 'pooled hello',
      attachment: null,
      attachmentId: null,
    });
    expect(await rows.query('SELECT is_read FROM inbox_entries WHERE message_id = $1', [stored.id])).toEqual([
      { is_read: true },
    ]);

    const deleted = await request(
      gateway.url,
      'DELETE',
      inboxPath(recipient.xuid, `/${stored.id}`),
      await bearer(recipient.xuid),
    );
    expect(deleted.status).toBe(204);
    expect(await rows.query('SELECT 1 FROM inbox_entries WHERE message_id = $1', [stored.id])).toEqual([]);
    expect(await rows.query('SELECT total_items FROM inbox_counters WHERE recipient_xuid = $1', [recipient.xuid])).toEqual([
      { total_items: 0 },
    ]);
    expect((await inbox(recipient.xuid)).body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
  });

  it('should page an inbox with continuation tokens through the pooler', async () => {
    const [sender, recipient] = await Promise.all([createUser(gateway.internalUrl), createUser(gateway.internalUrl)]);
    for (const text of ['first', 'second', 'third']) {
      expect((await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text })).status).toBe(200);
    }
    await listedEventually(recipient.xuid, 3);

    const first = await inbox(recipient.xuid, '?maxItems=2');
    expect(first.status).toBe(200);
    expect(first.body.results.map((item: { messageSummary: string }) => item.messageSummary)).toEqual(['third', 'second']);
    expect(first.body.pagingInfo).toEqual({ continuationToken: expect.any(String), totalItems: 3 });

    const token = encodeURIComponent(first.body.pagingInfo.continuationToken as string);
    const second = await inbox(recipient.xuid, `?maxItems=2&continuationToken=${token}`);
    expect(second.status).toBe(200);
    expect(second.body.results.map((item: { messageSummary: string }) => item.messageSummary)).toEqual(['first']);
    expect(second.body.pagingInfo).toEqual({ continuationToken: null, totalItems: 3 });
  });

  it('should answer a retried send with the same Idempotency-Key once, storing one message', async () => {
    const [sender, recipient] = await Promise.all([createUser(gateway.internalUrl), createUser(gateway.internalUrl)]);
    const headers = { 'idempotency-key': `pooled-${sender.xuid}` };

    const answers = await Promise.all(
      [1, 2, 3].map(() => send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text: 'once', headers })),
    );

    expect(answers.map((answer) => [answer.status, answer.text])).toEqual([
      [200, ''],
      [200, ''],
      [200, ''],
    ]);
    await listedEventually(recipient.xuid, 1);
    expect(await rows.query('SELECT count(*)::int AS n FROM messages WHERE sender_xuid = $1', [sender.xuid])).toEqual([
      { n: 1 },
    ]);
  });

  it('should keep many concurrent sends and listings apart on few server connections', async () => {
    const recipient = await createUser(gateway.internalUrl);
    const senders: TestUser[] = await Promise.all(Array.from({ length: 8 }, () => createUser(gateway.internalUrl)));

    const answers = await Promise.all([
      ...senders.map((sender) =>
        send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text: `from ${sender.gamertag}` }),
      ),
      ...senders.map(async () => (await inbox(recipient.xuid)).status),
    ]);

    expect(answers.slice(0, 8).map((answer) => (answer as { status: number }).status)).toEqual(Array(8).fill(200));
    expect(answers.slice(8)).toEqual(Array(8).fill(200));
    const listed = await listedEventually(recipient.xuid, 8);
    expect(listed.body.pagingInfo.totalItems).toBe(8);
    expect(new Set(listed.body.results.map((item: { header: { senderXuid: string } }) => item.header.senderXuid))).toEqual(
      new Set(senders.map((sender) => sender.xuid)),
    );
  });

  it('should bound statements by the timeout PgBouncer sets on its server connections', async () => {
    const pool = new Pool({
      connectionString: pooled.DATABASE_URL as string,
      ...poolOptions({ DATABASE_POOL_SIZE: 1, DATABASE_STARTUP_PARAMETERS: 'false' }, 5000),
    });
    try {
      const { rows: settings } = await pool.query<{ statement: string; idle: string }>(
        `SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
      );
      expect(settings).toEqual([{ statement: '5s', idle: '5s' }]);
    } finally {
      await pool.end();
    }
  });

  it('should be refused by PgBouncer when the settings are sent as startup parameters (the default)', async () => {
    const pool = new Pool({ connectionString: pooled.DATABASE_URL as string, ...poolOptions({ DATABASE_POOL_SIZE: 1 }, 5000) });
    pool.on('error', () => undefined);
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(/unsupported startup parameter/);
    } finally {
      await pool.end();
    }
  });

  it('should run migrations on DATABASE_MIGRATION_URL, not through the pooler', async () => {
    // DATABASE_URL leads nowhere: the migrator must not even try it.
    const ran = await runMigrations({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused',
      DATABASE_MIGRATION_URL: testDatabaseUrl(),
      // One connection holds the lock, the other runs the migrations.
      DATABASE_POOL_SIZE: 2,
    });

    expect(ran).toEqual([]);
  });
});
