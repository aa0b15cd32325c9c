/**
 * Where the integration suites' services are, as set by test/setup/global-setup.ts.
 * The only test file that reads process.env.
 */

function fromGlobalSetup(name: string, looksLikeTestRun: (value: string) => boolean): string {
  const value = process.env[name];
  if (!value || !looksLikeTestRun(value)) {
    throw new Error(
      `${name} is not set to this test run's value: test/setup/global-setup.ts did not run. ` +
        'Run integration suites through jest\'s "integration" project (npm test, or npm run test:int).',
    );
  }
  return value;
}

/** URL of the fresh, migrated database of this run. */
export function testDatabaseUrl(): string {
  return fromGlobalSetup('DATABASE_URL', (url) => /\/xblmsg_test_\d+_\d+(\?|$)/.test(url));
}

export function testRedisUrl(): string {
  return fromGlobalSetup('REDIS_URL', () => true);
}

/** Every Redis key the run creates starts with this; teardown deletes them. */
export function testRedisPrefix(): string {
  return fromGlobalSetup('REDIS_PREFIX', (prefix) => /^test-\d+-\d+$/.test(prefix));
}
