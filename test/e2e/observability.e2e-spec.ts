import { ERRORS } from '@app/shared/errors';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { DELIVERY_QUEUE } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { createDataSourceOptions } from '@app/shared/database';
import { bearer, createUser, makeFriends } from '../factories/users.factory';
import { RunningGateway, RunningService, startDelivery, startStack } from '../setup/services';
import { testDatabaseUrl, testRedisPrefix, testRedisUrl } from '../setup/test-env';

describe('observability', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;
  let db: DataSource;

  beforeAll(async () => {
    stack = await startStack();
    delivery = await startDelivery();
    db = await new DataSource(createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 2 })).initialize();
  });

  afterAll(async () => {
    await db?.destroy();
    await delivery?.close();
    await stack?.close();
  });

  /** A service's /metrics: the gateway's on its internal listener. */
  async function metrics(service: RunningService | RunningGateway): Promise<string> {
    const response = await fetch(`${'internalUrl' in service ? service.internalUrl : service.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  }

  it('should carry the request id of a send into the stored message and its delivery job', async () => {
    const sender = await createUser(stack.gateway.internalUrl);
    const recipient = await createUser(stack.gateway.internalUrl);
    await makeFriends(stack.gateway.internalUrl, sender.xuid, recipient.xuid);
    const requestId = `trace-${Date.now()}`;
    const response = await fetch(`${stack.gateway.url}/users/xuid(${sender.xuid})/outbox`, {
      method: 'POST',
      headers: {
        ...(await bearer(sender.xuid, { gamertag: sender.gamertag })),
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: JSON.stringify({ header: { recipients: [{ xuid: recipient.xuid }] }, messageText: 'traced' }),
    });
    expect(response.status).toBe(200);
    const [row] = await db.query('SELECT id, request_id FROM messages WHERE sender_xuid = $1', [sender.xuid]);
    expect(row.request_id).toBe(requestId);
    const queue = new Queue(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix: testRedisPrefix() });
    try {
      const job = await queue.getJob(row.id);
      expect(job?.data).toEqual({ messageId: row.id, requestId });
    } finally {
      await queue.close();
    }
  });

  it('should expose HTTP latency by route pattern, never by raw URL, on the gateway', async () => {
    const user = await createUser(stack.gateway.internalUrl);
    await fetch(`${stack.gateway.url}/users/xuid(${user.xuid})/inbox`, { headers: await bearer(user.xuid) });
    const text = await metrics(stack.gateway);
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/users\/:user\/inbox",status_code="200"\} \d+/,
    );
    expect(text).not.toContain(user.xuid);
    expect(text).toMatch(/process_cpu_seconds_total/);
  });

  it('should expose send outcomes by errorCode, the wait on quota and the database pool on the gateway', async () => {
    const sender = await createUser(stack.gateway.internalUrl);
    const recipient = await createUser(stack.gateway.internalUrl);
    const headers = { ...(await bearer(sender.xuid, { gamertag: sender.gamertag })), 'content-type': 'application/json' };
    const post = (body: unknown) =>
      fetch(`${stack.gateway.url}/users/xuid(${sender.xuid})/outbox`, { method: 'POST', headers, body: JSON.stringify(body) });
    expect((await post({ header: { recipients: [{ xuid: recipient.xuid }] }, messageText: 'counted' })).status).toBe(200);
    expect((await post({ header: { recipients: [] }, messageText: 'no one' })).status).toBe(400);

    const text = await metrics(stack.gateway);

    expect(text).toMatch(/gateway_send_outcomes_total\{error_code="0"\} [1-9]\d*/);
    expect(text).toMatch(
      new RegExp(`gateway_send_outcomes_total\\{error_code="${ERRORS.RECIPIENTS_INVALID.code}"\\} [1-9]\\d*`),
    );
    expect(text).toMatch(/gateway_quota_wait_seconds_count\{call="reserve",outcome="ok"\} [1-9]\d*/);
    expect(text).toMatch(/database_pool_connections\{state="idle"\} \d+/);
    expect(text).toMatch(/database_pool_connections\{state="in-use"\} \d+/);
    expect(text).toMatch(/database_pool_waiting \d+/);
  });

  it('should expose quota decisions on the quota service', async () => {
    const sender = await createUser(stack.gateway.internalUrl);
    const recipient = await createUser(stack.gateway.internalUrl);
    await fetch(`${stack.gateway.url}/users/xuid(${sender.xuid})/outbox`, {
      method: 'POST',
      headers: { ...(await bearer(sender.xuid, { gamertag: sender.gamertag })), 'content-type': 'application/json' },
      body: JSON.stringify({ header: { recipients: [{ xuid: recipient.xuid }] }, messageText: 'counted' }),
    });
    expect(await metrics(stack.quota)).toMatch(/quota_decisions_total\{outcome="accepted",limit="none"\} [1-9]\d*/);
  });

  it('should expose queue depth and delivery metrics on the delivery worker', async () => {
    const text = await metrics(delivery);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) {
      expect(text).toMatch(new RegExp(`delivery_queue_jobs\\{state="${state}"\\} \\d+`));
    }
    for (const name of [
      'delivery_queue_wait_seconds',
      'delivery_acceptance_to_inbox_seconds',
      'delivery_inbox_entries_written_total',
      'delivery_recipients_dropped_total',
      'delivery_job_retries_total',
      'delivery_job_failures_total',
      'delivery_redelivered_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });
});
