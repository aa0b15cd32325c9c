import { bearer, uniqueXuid } from '../factories/users.factory';
import { freePort } from '../setup/free-port';
import { ServiceProcess, spawnService } from '../setup/service-process';
import { TcpProxy } from '../setup/tcp-proxy';
import { testDatabaseUrl } from '../setup/test-env';

interface LogLine {
  level?: number;
  msg?: string;
  settings?: Record<string, unknown>;
  req?: { id?: string };
  err?: unknown;
  errorCode?: number;
}

const WARN = 40;

const jsonLines = (output: string): LogLine[] =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

/** Resolves once the process answers /healthz (alive; its dependencies may be down). */
async function alive(service: ServiceProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await fetch(`${service.url}/healthz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error(`process ${service.pid} did not answer /healthz:\n${service.stderr()}`);
}

/** What an operator reads first: the settings a service started with, why it stopped, why a request failed. */
describe('service log lines', () => {
  it('should log its effective settings at start (secrets hidden) and its stop with the signal', async () => {
    const quota = await spawnService('quota', {
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      // Quota never connects to Postgres; its URL is declared (shared) and so logged, masked.
      DATABASE_URL: 'postgres://app:sesame-open@127.0.0.1:5432/none',
      LIMIT_MESSAGES_PER_DAY: 77,
    });
    try {
      await quota.ready();
    } finally {
      quota.signal('SIGTERM');
    }
    // Nest runs its shutdown hooks, then exits 0 (process.exit, so the logger flushes its last lines).
    expect(await quota.exited).toMatchObject({ code: 0, signal: null });

    const lines = jsonLines(quota.stdout());
    const started = lines.find((line) => line.msg === 'quota starting');
    expect(started?.settings).toMatchObject({
      LIMIT_MESSAGES_PER_DAY: 77,
      QUOTA_WINDOW_SECONDS: 86_400,
      DATABASE_URL: 'postgres://app:***@127.0.0.1:5432/none',
    });
    expect(quota.stdout()).not.toContain('sesame-open');
    expect(lines.map((line) => line.msg)).toContain('quota stopped on SIGTERM');
  });

  it('should keep the last request line and the stop line in development mode, whose logs go through a worker', async () => {
    const gateway = await spawnService('gateway', { LOG_LEVEL: 'info', NODE_ENV: 'development', QUOTA_PORT: await freePort() });
    try {
      await alive(gateway);
      const xuid = uniqueXuid();
      const response = await fetch(`${gateway.url}/users/xuid(${xuid})/inbox`, {
        headers: { ...(await bearer(xuid)), 'x-request-id': 'last-before-stop' },
      });
      expect(response.status).toBe(200);
    } finally {
      gateway.signal('SIGTERM');
    }

    expect(await gateway.exited).toMatchObject({ code: 0, signal: null });
    // pino-pretty's single-line form: "[time] INFO (gateway/pid): message {fields}".
    expect(gateway.stdout()).toMatch(/INFO \(gateway\/\d+\): request completed .*"id":"last-before-stop"/);
    expect(gateway.stdout()).toMatch(/INFO \(gateway\/\d+\): gateway stopped on SIGTERM/);
  });

  it('should log a Postgres outage as one warn line naming the cause, with no stack', async () => {
    const database = new URL(testDatabaseUrl());
    const proxy = await new TcpProxy(database.hostname, Number(database.port || 5432)).start();
    const gateway = await spawnService('gateway', {
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      DATABASE_URL: proxy.rewrite(testDatabaseUrl()),
      QUOTA_PORT: await freePort(),
    });
    const xuid = uniqueXuid();
    const inbox = async (requestId: string) =>
      fetch(`${gateway.url}/users/xuid(${xuid})/inbox`, {
        headers: { ...(await bearer(xuid)), 'x-request-id': requestId },
      });
    try {
      await alive(gateway);
      expect((await inbox('before-outage')).status).toBe(200);
      await proxy.stop();

      const refused = await inbox('during-outage');

      expect(refused.status).toBe(503);
    } finally {
      gateway.signal('SIGTERM');
      await gateway.exited;
      await proxy.stop();
    }

    const lines = jsonLines(gateway.stdout()).filter((line) => line.req?.id === 'during-outage');
    expect(lines).toEqual([
      expect.objectContaining({
        level: WARN,
        errorCode: 1006,
        // A new connection is refused; one the proxy cut may be found dead first.
        msg: expect.stringMatching(
          /^request failed with status 503: Postgres (unreachable at 127\.0\.0\.1:\d+: ECONNREFUSED|connection lost)$/,
        ) as unknown,
      }),
    ]);
    expect(lines[0]).not.toHaveProperty('err');
    expect(gateway.stdout()).not.toMatch(/"stack"|failed with status code/);
  });
});
