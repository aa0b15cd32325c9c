import { IsIn, IsInt, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';
import { DeliveryConfig } from '../../../../apps/delivery/src/delivery.config';
import { GatewayConfig } from '../../../../apps/gateway/src/gateway.config';
import { QuotaConfig } from '../../../../apps/quota/src/quota.config';
import { DEVELOPMENT_QUOTA_RPC_KEYS } from '../quota';
import { DEVELOPMENT_ADMIN_TOKEN, DEVELOPMENT_JWT_SECRET } from '../tokens';
import { ConfigError, effectiveSettings, loadConfig } from './load-config';
import { SharedConfig } from './shared.config';

class ExampleConfig {
  @IsInt()
  @Min(1)
  @Max(100)
  WORKERS: number = 4;

  @IsIn(['a', 'b'])
  MODE: 'a' | 'b' = 'a';

  @IsOptional()
  @IsString()
  @MinLength(8)
  EXAMPLE_SECRET?: string;
}

// The production secrets other than the one a test is about (extra names are ignored).
const PRODUCTION = {
  NODE_ENV: 'production',
  ADMIN_TOKEN: 'a'.repeat(16),
  PAGING_TOKEN_KEYS: `k1:${'s'.repeat(32)}`,
  QUOTA_RPC_KEYS: `q1:${'r'.repeat(32)}`,
};

const PUBLIC_KEY_PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';

/** Runs `load` and returns the ConfigError it throws (fails the test if it does not throw). */
function configErrorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

describe('loadConfig with a declared class', () => {
  it('should apply the field defaults when the source is empty', () => {
    const config = loadConfig(ExampleConfig, {});

    expect(config).toBeInstanceOf(ExampleConfig);
    expect({ ...config }).toEqual({ WORKERS: 4, MODE: 'a', EXAMPLE_SECRET: undefined });
  });

  it('should convert a number when the variable is set', () => {
    expect(loadConfig(ExampleConfig, { WORKERS: '12' }).WORKERS).toBe(12);
  });

  it('should use the default when the variable is an empty string', () => {
    expect(loadConfig(ExampleConfig, { WORKERS: '', MODE: '' })).toMatchObject({ WORKERS: 4, MODE: 'a' });
  });

  it('should not copy a variable onto the config when the class does not declare it', () => {
    const config = loadConfig(ExampleConfig, { WORKERS: '2', UNDECLARED: 'x', PATH: '/bin' });

    expect(Object.keys(config).sort()).toEqual(['EXAMPLE_SECRET', 'MODE', 'WORKERS']);
    expect(config).not.toHaveProperty('UNDECLARED');
  });

  it('should throw a ConfigError naming the variable and its value when a value is bad', () => {
    const error = configErrorOf(() => loadConfig(ExampleConfig, { WORKERS: '0' }));

    expect(error.problems).toEqual(['WORKERS: WORKERS must not be less than 1 (got "0")']);
    expect(error.message).toBe('Invalid configuration:\n  - WORKERS: WORKERS must not be less than 1 (got "0")');
  });

  it('should list every bad variable when several are bad', () => {
    const error = configErrorOf(() => loadConfig(ExampleConfig, { WORKERS: '0', MODE: 'c' }));

    const named = new Set(error.problems.map((problem) => problem.split(':')[0]));
    expect([...named].sort()).toEqual(['MODE', 'WORKERS']);
  });

  it('should hide the value when a secret variable is bad', () => {
    const error = configErrorOf(() => loadConfig(ExampleConfig, { EXAMPLE_SECRET: 'short' }));

    expect(error.problems).toEqual([expect.stringMatching(/^EXAMPLE_SECRET: .*\(value hidden\)$/)]);
    expect(error.message).not.toContain('short');
  });
});

describe('loadConfig with the services’ config classes', () => {
  // Defaults: README.md, "Configuration".
  it('should apply the documented defaults when the gateway source is empty', () => {
    const config = loadConfig(GatewayConfig, {});

    expect(config).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/xblmsg',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUOTA_HOST: '127.0.0.1',
      QUOTA_PORT: 3001,
      MESSAGE_TTL_SECONDS: 2_592_000,
    });
    expect(config.AUTH_JWKS_URL).toBeUndefined();
    expect(config.AUTH_PUBLIC_KEY).toBeUndefined();
    expect(config.AUTH_ISSUER).toBeUndefined();
    expect(config.AUTH_AUDIENCE).toBeUndefined();
  });

  it('should apply the documented defaults when the quota source is empty', () => {
    expect(loadConfig(QuotaConfig, {})).toMatchObject({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/xblmsg',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUOTA_PORT: 3001,
      LIMIT_MESSAGES_PER_DAY: 250,
      LIMIT_RECIPIENTS_PER_DAY: 2500,
      LIMIT_STRANGERS_PER_DAY: 200,
      LIMIT_STRANGERS_PER_MESSAGE: 20,
      QUOTA_WINDOW_SECONDS: 86_400,
    });
  });

  it('should apply the documented defaults when the delivery source is empty', () => {
    expect(loadConfig(DeliveryConfig, {})).toMatchObject({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/xblmsg',
      REDIS_URL: 'redis://127.0.0.1:6379',
      MESSAGE_TTL_SECONDS: 2_592_000,
      REDELIVER_AFTER_SECONDS: 30,
      DELIVERY_CONCURRENCY: 100,
      DELIVERY_BATCH_SIZE: 50,
    });
  });

  // Environment values are strings: numeric fields must come out as numbers.
  it('should convert numbers when the gateway variables are set', () => {
    const config = loadConfig(GatewayConfig, { PORT: '8080', QUOTA_PORT: '4001', QUOTA_TIMEOUT_MS: '250' });

    expect(config.PORT).toBe(8080);
    expect(config.QUOTA_PORT).toBe(4001);
    expect(config.QUOTA_TIMEOUT_MS).toBe(250);
  });

  it('should convert numbers when the quota variables are set', () => {
    const config = loadConfig(QuotaConfig, {
      LIMIT_MESSAGES_PER_DAY: '3',
      LIMIT_RECIPIENTS_PER_DAY: '30',
      LIMIT_STRANGERS_PER_DAY: '5',
      LIMIT_STRANGERS_PER_MESSAGE: '2',
      QUOTA_WINDOW_SECONDS: '60',
      DATABASE_POOL_SIZE: '4',
    });

    expect(config).toMatchObject({
      LIMIT_MESSAGES_PER_DAY: 3,
      LIMIT_RECIPIENTS_PER_DAY: 30,
      LIMIT_STRANGERS_PER_DAY: 5,
      LIMIT_STRANGERS_PER_MESSAGE: 2,
      QUOTA_WINDOW_SECONDS: 60,
      DATABASE_POOL_SIZE: 4,
    });
  });

  it('should convert numbers when the delivery variables are set', () => {
    const config = loadConfig(DeliveryConfig, { DELIVERY_CONCURRENCY: '4', REDELIVER_AFTER_SECONDS: '5' });

    expect(config.DELIVERY_CONCURRENCY).toBe(4);
    expect(config.REDELIVER_AFTER_SECONDS).toBe(5);
  });

  it('should use the default when a variable is an empty string', () => {
    const config = loadConfig(GatewayConfig, { PORT: '', LOG_LEVEL: '', AUTH_PUBLIC_KEY: '' });

    expect(config.PORT).toBe(3000);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.AUTH_PUBLIC_KEY).toBeUndefined();
  });

  it.each([
    ['PORT', 'abc', GatewayConfig],
    ['PORT', '70000', GatewayConfig],
    ['PORT', '-1', GatewayConfig],
    ['PORT', '1.5', GatewayConfig],
    ['LIMIT_MESSAGES_PER_DAY', '0', QuotaConfig],
    ['LOG_LEVEL', 'loud', GatewayConfig],
    ['NODE_ENV', 'staging', DeliveryConfig],
  ])('should throw a ConfigError naming %s when it is %p', (variable, value, cls) => {
    const error = configErrorOf(() => loadConfig(cls as typeof SharedConfig, { [variable]: value }));

    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) {
      expect(problem.startsWith(`${variable}: `)).toBe(true);
      expect(problem.endsWith(`(got "${value}")`)).toBe(true);
    }
  });

  it('should name DATABASE_URL without echoing it when it is not a postgres URL', () => {
    const error = configErrorOf(() => loadConfig(DeliveryConfig, { DATABASE_URL: 'mysql://root:hunter2@db/x' }));

    expect(error.problems).toEqual(['DATABASE_URL: must be a postgres:// URL (value hidden)']);
    expect(error.message).not.toContain('hunter2');
  });

  it('should refuse a delivery pool smaller than its two batches and one maintenance job', () => {
    const error = configErrorOf(() => loadConfig(DeliveryConfig, { DATABASE_POOL_SIZE: '2' }));

    expect(error.problems).toEqual([expect.stringMatching(/^DATABASE_POOL_SIZE: must be at least 3 for delivery/)]);
    expect(loadConfig(DeliveryConfig, { DATABASE_POOL_SIZE: '3' }).DATABASE_POOL_SIZE).toBe(3);
    expect(loadConfig(GatewayConfig, { DATABASE_POOL_SIZE: '2' }).DATABASE_POOL_SIZE).toBe(2);
  });

  it('should list every bad variable at once when several are bad', () => {
    const error = configErrorOf(() =>
      loadConfig(QuotaConfig, { LIMIT_MESSAGES_PER_DAY: '0', LOG_LEVEL: 'loud', REDIS_URL: 'http://x', QUOTA_PORT: 'x' }),
    );

    const named = new Set(error.problems.map((problem) => problem.split(':')[0]));
    expect([...named].sort()).toEqual(['LIMIT_MESSAGES_PER_DAY', 'LOG_LEVEL', 'QUOTA_PORT', 'REDIS_URL']);
  });

  it('should name AUTH_JWT_SECRET without echoing it when it is too short', () => {
    const secret = 'too-short-secret-value';

    const error = configErrorOf(() => loadConfig(GatewayConfig, { AUTH_JWT_SECRET: secret }));

    expect(error.problems).toEqual([
      'AUTH_JWT_SECRET: AUTH_JWT_SECRET must be longer than or equal to 32 characters (value hidden)',
    ]);
    expect(error.message).not.toContain(secret);
  });

  it('should name ADMIN_TOKEN without echoing it when it is too short', () => {
    const error = configErrorOf(() => loadConfig(GatewayConfig, { ADMIN_TOKEN: 'tiny-admin' }));

    expect(error.message).toContain('ADMIN_TOKEN');
    expect(error.message).not.toContain('tiny-admin');
  });

  it('should name AUTH_JWT_SECRET and ADMIN_TOKEN when production has neither', () => {
    const error = configErrorOf(() => loadConfig(GatewayConfig, { NODE_ENV: 'production' }));

    expect(error.problems).toEqual(
      expect.arrayContaining([
        'AUTH_JWT_SECRET: required when NODE_ENV=production (or set AUTH_PUBLIC_KEY or AUTH_JWKS_URL)',
        'ADMIN_TOKEN: required when NODE_ENV=production',
      ]),
    );
    expect(error.message).not.toContain(DEVELOPMENT_JWT_SECRET);
  });

  it('should not fall back to the development secrets when production is configured', () => {
    const secret = 'p'.repeat(32);
    const config = loadConfig(GatewayConfig, { ...PRODUCTION, AUTH_JWT_SECRET: secret });

    expect(config.AUTH_JWT_SECRET).toBe(secret);
    expect(config.ADMIN_TOKEN).toBe('a'.repeat(16));
  });

  it('should not require AUTH_JWT_SECRET when production uses AUTH_PUBLIC_KEY', () => {
    const config = loadConfig(GatewayConfig, {
      ...PRODUCTION,
      AUTH_PUBLIC_KEY: PUBLIC_KEY_PEM,
    });

    expect(config.AUTH_JWT_SECRET).toBeUndefined();
    expect(config.usesAsymmetricTokens).toBe(true);
  });

  it('should not require AUTH_JWT_SECRET when production uses AUTH_JWKS_URL', () => {
    const config = loadConfig(GatewayConfig, {
      ...PRODUCTION,
      AUTH_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
    });

    expect(config.AUTH_JWT_SECRET).toBeUndefined();
  });

  it('should list the effective settings with secrets hidden and URL passwords masked', () => {
    const config = loadConfig(GatewayConfig, {
      ...PRODUCTION,
      AUTH_JWT_SECRET: 'j'.repeat(40),
      DATABASE_URL: 'postgres://app:hunter2@db:5432/xblmsg',
      QUOTA_TIMEOUT_MS: '250',
    });

    const settings = effectiveSettings(config);

    expect(settings).toMatchObject({
      DATABASE_URL: 'postgres://app:***@db:5432/xblmsg',
      QUOTA_TIMEOUT_MS: 250,
      AUTH_JWT_SECRET: '(set)',
      ADMIN_TOKEN: '(set)',
      AUTH_PUBLIC_KEY: null,
      NODE_ENV: 'production',
    });
    expect(JSON.stringify(settings)).not.toContain('hunter2');
    expect(JSON.stringify(settings)).not.toContain('j'.repeat(40));
    expect(JSON.stringify(settings)).not.toContain(PRODUCTION.ADMIN_TOKEN);
  });

  it('should refuse an http:// AUTH_JWKS_URL in production, and allow it outside', () => {
    const error = configErrorOf(() =>
      loadConfig(GatewayConfig, { ...PRODUCTION, AUTH_JWKS_URL: 'http://login.example.com/.well-known/jwks.json' }),
    );

    expect(error.problems).toEqual(['AUTH_JWKS_URL: must be an https:// URL when NODE_ENV=production']);
    expect(loadConfig(GatewayConfig, { AUTH_JWKS_URL: 'http://127.0.0.1:9999/jwks.json' }).AUTH_JWKS_URL).toBe(
      'http://127.0.0.1:9999/jwks.json',
    );
  });

  it.each([['development'], ['test']])('should use the development secrets when NODE_ENV is %s', (nodeEnv) => {
    const config = loadConfig(GatewayConfig, { NODE_ENV: nodeEnv });

    expect(config.AUTH_JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
    expect(config.ADMIN_TOKEN).toBe(DEVELOPMENT_ADMIN_TOKEN);
  });

  it('should throw when both AUTH_PUBLIC_KEY and AUTH_JWKS_URL are set', () => {
    const error = configErrorOf(() =>
      loadConfig(GatewayConfig, { AUTH_PUBLIC_KEY: PUBLIC_KEY_PEM, AUTH_JWKS_URL: 'https://keys.example.com/jwks' }),
    );

    expect(error.problems).toEqual(['AUTH_PUBLIC_KEY and AUTH_JWKS_URL: set one, not both']);
  });

  describe('QUOTA_RPC_KEYS, read by the gateway and quota', () => {
    const KEYS_FORMAT =
      'QUOTA_RPC_KEYS: must be comma-separated kid:secret pairs (kid 1..8 letters or digits, secret at least 32 characters) (value hidden)';

    it.each([
      ['gateway', GatewayConfig],
      ['quota', QuotaConfig],
    ])('should require it in production for the %s', (_, cls) => {
      const { QUOTA_RPC_KEYS: _unset, ...others } = PRODUCTION;

      const error = configErrorOf(() => loadConfig(cls as typeof QuotaConfig, { ...others, AUTH_JWT_SECRET: 'j'.repeat(32) }));

      expect(error.problems).toEqual(['QUOTA_RPC_KEYS: required when NODE_ENV=production']);
    });

    it('should give the gateway and quota the same development key outside production', () => {
      const gateway = loadConfig(GatewayConfig, { NODE_ENV: 'test' });
      const quota = loadConfig(QuotaConfig, {});

      expect(gateway.QUOTA_RPC_KEYS).toBe(DEVELOPMENT_QUOTA_RPC_KEYS);
      expect(quota.QUOTA_RPC_KEYS).toBe(DEVELOPMENT_QUOTA_RPC_KEYS);
      expect(gateway.quotaRpcKeys).toEqual(quota.quotaRpcKeys);
    });

    it('should list the keys in order, the signing key first', () => {
      const config = loadConfig(QuotaConfig, {
        ...PRODUCTION,
        QUOTA_RPC_KEYS: `k2:${'n'.repeat(32)},k1:${'o'.repeat(40)}`,
      });

      expect(config.quotaRpcKeys).toEqual([
        { kid: 'k2', secret: 'n'.repeat(32) },
        { kid: 'k1', secret: 'o'.repeat(40) },
      ]);
    });

    it.each([
      ['a secret under 32 characters', `k1:${'s'.repeat(31)}`],
      ['no kid', `${'s'.repeat(32)}`],
      ['a kid over 8 characters', `kid123456:${'s'.repeat(32)}`],
      ['a kid with a dash', `k-1:${'s'.repeat(32)}`],
      ['a space after the comma', `k1:${'s'.repeat(32)}, k2:${'t'.repeat(32)}`],
      ['a trailing comma', `k1:${'s'.repeat(32)},`],
    ])('should say what the format is, without echoing the value, when it has %s', (_, value) => {
      for (const cls of [GatewayConfig, QuotaConfig]) {
        const error = configErrorOf(() => loadConfig(cls as typeof QuotaConfig, { QUOTA_RPC_KEYS: value }));

        expect(error.problems).toEqual([KEYS_FORMAT]);
        expect(error.message).not.toContain('s'.repeat(31));
      }
    });

    it('should refuse a kid listed twice', () => {
      const error = configErrorOf(() =>
        loadConfig(QuotaConfig, { QUOTA_RPC_KEYS: `k1:${'a'.repeat(32)},k2:${'b'.repeat(32)},k1:${'c'.repeat(32)}` }),
      );

      expect(error.problems).toEqual(['QUOTA_RPC_KEYS: each kid may appear once (repeated: k1)']);
    });

    it('should show it as "(set)" in the start-up settings', () => {
      const settings = effectiveSettings(loadConfig(QuotaConfig, PRODUCTION));

      expect(settings.QUOTA_RPC_KEYS).toBe('(set)');
      expect(JSON.stringify(settings)).not.toContain('r'.repeat(32));
    });

    it('should not be read by delivery, which never calls quota', () => {
      expect(loadConfig(DeliveryConfig, PRODUCTION)).not.toHaveProperty('QUOTA_RPC_KEYS');
    });
  });

  it('should not copy a variable onto the config when the class does not declare it', () => {
    const config = loadConfig(QuotaConfig, { HOME: '/root', PORT: '8080', DELIVERY_CONCURRENCY: '3' });

    expect(config).not.toHaveProperty('HOME');
    expect(config).not.toHaveProperty('PORT');
    expect(config).not.toHaveProperty('DELIVERY_CONCURRENCY');
  });
});
