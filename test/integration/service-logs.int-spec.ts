import { spawnService } from '../setup/service-process';

/** What an operator reads first: the settings a service started with, and why it stopped. */
describe('service start and stop log lines', () => {
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

    const lines = quota
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; settings?: Record<string, unknown> });
    const started = lines.find((line) => line.msg === 'quota starting');
    expect(started?.settings).toMatchObject({
      LIMIT_MESSAGES_PER_DAY: 77,
      QUOTA_WINDOW_SECONDS: 86_400,
      DATABASE_URL: 'postgres://app:***@127.0.0.1:5432/none',
    });
    expect(quota.stdout()).not.toContain('sesame-open');
    expect(lines.map((line) => line.msg)).toContain('quota stopped on SIGTERM');
  });
});
