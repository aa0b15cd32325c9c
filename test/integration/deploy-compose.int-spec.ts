import { execFileSync } from 'child_process';
import { existsSync } from 'fs';
import { join } from 'path';
import { ConfigError, loadConfig } from '@app/shared/config';
import { ERRORS } from '@app/shared/errors';
import {
  CONFIG_OF_COMMAND,
  ConfigClass,
  declaredVariables,
  defaultOf,
  entrypointCommands,
  readText,
  readYamlDocuments,
  ROOT,
  sourceOfDistFile,
} from '../fixtures/deploy/deploy-files';

/**
 * Static checks of docker-compose.yml, the load balancer config, the Dockerfile
 * and the image entry point: no Docker engine needed. The variables each
 * service must receive come from its config class (class-validator metadata),
 * not from a list kept here.
 */

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
  restart?: string;
  deploy?: { replicas?: string | number };
}

const [compose] = readYamlDocuments('docker-compose.yml') as [{ services: Record<string, ComposeService> }];
const services = compose.services;
const APP_SERVICES = ['migrate', 'quota', 'gateway', 'delivery'];
const LOAD_BALANCER = 'lb';

// Fixed by the compose file's own topology rather than read from the environment
// (a developer's exported DATABASE_URL=...127.0.0.1 must not reach the containers).
const FIXED_IN_COMPOSE = new Set([
  'NODE_ENV',
  'DATABASE_URL',
  'REDIS_URL',
  'QUOTA_HOST',
  'HOST',
  'QUOTA_LISTEN_HOST',
  'DELIVERY_HTTP_HOST',
  'INTERNAL_HOST',
  // The load balancer's internal frontend depends on it.
  'INTERNAL_LISTENER',
]);
// Read from the environment, with a default other than the config class's, and why.
const COMPOSE_DEFAULTS = { TRUST_PROXY: 'true' }; // only the load balancer reaches the gateway

// The secrets a production start needs, at their minimum valid lengths.
const REQUIRED_SECRETS = {
  AUTH_JWT_SECRET: 'j'.repeat(32),
  ADMIN_TOKEN: 'a'.repeat(16),
  PAGING_TOKEN_KEYS: `k1:${'p'.repeat(32)}`,
  QUOTA_RPC_KEYS: `q1:${'q'.repeat(32)}`,
};

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (whole, name, colon, kind, arg) => {
    if (whole === '$$') return '$';
    const set = env[name] !== undefined && (colon !== ':' || env[name] !== '');
    if (set) return env[name];
    if (kind === '?') throw new Error(`${name}: ${arg}`);
    return kind === '-' ? arg : '';
  });
}

function environmentOf(service: string, env: Record<string, string>): Record<string, string> {
  const raw = services[service].environment ?? {};
  return Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, interpolate(String(value), env)]));
}

/** `${NAME...}` when the whole value is one interpolation, else undefined. */
function interpolation(value: unknown): { name: string; operator?: string; argument?: string } | undefined {
  const match = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}$/.exec(String(value));
  return match ? { name: match[1], operator: match[2], argument: match[3] } : undefined;
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

describe('docker-compose.yml', () => {
  it('should define postgres, redis, migrate, quota, gateway, the load balancer and delivery', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['delivery', 'gateway', LOAD_BALANCER, 'migrate', 'postgres', 'quota', 'redis'].sort(),
    );
    expect(services.postgres.image).toMatch(/^postgres:15(\.|-|$)/);
    expect(services.redis.image).toMatch(/^redis:7(\.|-|$)/);
  });

  it('should build every app service from the one image and run it through the entry point', () => {
    const commands = entrypointCommands();
    const images = new Set(APP_SERVICES.map((name) => services[name].image));

    expect(images.size).toBe(1);
    for (const name of APP_SERVICES) {
      expect(services[name].build).toBe('.');
      expect(services[name].command).toEqual([name]);
      expect(commands.has(name)).toBe(true);
    }
  });

  it('should run two gateway replicas and the delivery replicas from DELIVERY_REPLICAS', () => {
    expect(interpolate(String(services.gateway.deploy?.replicas), {})).toBe('2');
    expect(interpolation(services.delivery.deploy?.replicas)).toEqual({
      name: 'DELIVERY_REPLICAS',
      operator: ':-',
      argument: '2',
    });
    expect(interpolate(String(services.delivery.deploy?.replicas), { DELIVERY_REPLICAS: '6' })).toBe('6');
  });

  it('should give every long-running service a health check', () => {
    const longRunning = Object.keys(services).filter((name) => name !== 'migrate');

    for (const name of longRunning) {
      expect({ name, test: services[name].healthcheck?.test?.[0] }).toEqual({
        name,
        test: expect.stringMatching(/^CMD(-SHELL)?$/),
      });
    }
    expect(services.migrate.healthcheck).toBeUndefined();
    expect(services.migrate.restart).toBe('no');
  });

  it.each([
    ['gateway', 'PORT'],
    ['quota', 'QUOTA_HTTP_PORT'],
    ['delivery', 'DELIVERY_HTTP_PORT'],
  ])('should check %s on /readyz at the port its %s variable sets', (name, portVariable) => {
    const test = services[name].healthcheck?.test ?? [];
    const script = test.join(' ');

    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(script).toContain(`process.env.${portVariable}+'/readyz'`);
    expect(services[name].environment).toHaveProperty(portVariable);
  });

  it('should start the apps only after migrate completed and postgres and redis are healthy', () => {
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['gateway', 'delivery']) {
      expect(services[name].depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    }
    expect(services.quota.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    // The gateway's readiness includes quota; the load balancer needs a ready gateway.
    expect(services.gateway.depends_on).toMatchObject({ quota: { condition: 'service_healthy' } });
    expect(services[LOAD_BALANCER].depends_on).toEqual({ gateway: { condition: 'service_healthy' } });
  });

  it('should run redis with append-only persistence and without eviction', () => {
    const command = (services.redis.command ?? []).join(' ');

    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--maxmemory-policy noeviction\b/);
    expect(services.redis.volumes).toEqual([expect.stringMatching(/:\/data$/)]);
  });

  it("should publish only the load balancer's ports: the player API everywhere, the internal surfaces on loopback", () => {
    const published = Object.entries(services).flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => ({ name, port })),
    );

    expect(published).toEqual([
      { name: LOAD_BALANCER, port: '${PUBLISHED_PORT:-3000}:8080' },
      { name: LOAD_BALANCER, port: '127.0.0.1:${INTERNAL_PUBLISHED_PORT:-3004}:8081' },
    ]);
    expect(interpolate(published[0].port, {})).toBe('3000:8080');
    expect(interpolate(published[1].port, {})).toBe('127.0.0.1:3004:8081');
  });

  describe.each(Object.entries(CONFIG_OF_COMMAND))('the %s service', (name, cls: ConfigClass) => {
    const environment = services[name].environment ?? {};

    it('should receive every variable its config class reads', () => {
      const missing = declaredVariables(cls).filter((variable) => !(variable in environment));

      expect(missing).toEqual([]);
    });

    it('should take each setting from the environment variable of the same name, with the documented default', () => {
      const problems: string[] = [];
      for (const variable of declaredVariables(cls)) {
        if (FIXED_IN_COMPOSE.has(variable)) continue;
        const value = interpolation(environment[variable]);
        const expected = COMPOSE_DEFAULTS[variable as keyof typeof COMPOSE_DEFAULTS] ?? defaultOf(cls, variable) ?? '';
        if (value?.name !== variable) problems.push(`${variable}: ${environment[variable]} does not read \${${variable}}`);
        else if (value.operator === ':-' && value.argument !== expected) {
          problems.push(`${variable}: default ${value.argument}, expected ${expected}`);
        } else if (value.operator !== ':-' && value.operator !== ':?') {
          problems.push(`${variable}: ${environment[variable]} has neither a default nor a required-message`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('should start in production with only the required secrets set', () => {
      const env = environmentOf(name, REQUIRED_SECRETS);

      expect(env.NODE_ENV).toBe('production');
      expect(() => loadConfig(cls, env)).not.toThrow();
    });
  });

  it('should refuse to render without ADMIN_TOKEN and PAGING_TOKEN_KEYS', () => {
    const { ADMIN_TOKEN, PAGING_TOKEN_KEYS, ...rest } = REQUIRED_SECRETS;

    expect(() => environmentOf('gateway', { ...rest, PAGING_TOKEN_KEYS })).toThrow(/ADMIN_TOKEN/);
    expect(() => environmentOf('gateway', { ...rest, ADMIN_TOKEN })).toThrow(/PAGING_TOKEN_KEYS/);
  });

  it('should refuse to render without QUOTA_RPC_KEYS, for quota and the gateway alike', () => {
    const { QUOTA_RPC_KEYS: _unset, ...rest } = REQUIRED_SECRETS;

    for (const name of ['quota', 'gateway']) {
      expect(() => environmentOf(name, rest)).toThrow(/^QUOTA_RPC_KEYS: set QUOTA_RPC_KEYS/);
    }
  });

  it('should give QUOTA_RPC_KEYS to quota and the gateway only, from the one variable', () => {
    expect(services.quota.environment?.QUOTA_RPC_KEYS).toBe(services.gateway.environment?.QUOTA_RPC_KEYS);
    for (const name of ['migrate', 'delivery']) {
      expect({ name, keys: services[name].environment?.QUOTA_RPC_KEYS }).toEqual({ name, keys: undefined });
    }
  });

  it('should stop the gateway at start when no token verification key is set', () => {
    const { AUTH_JWT_SECRET: _unset, ...rest } = REQUIRED_SECRETS;

    expect(() => loadConfig(CONFIG_OF_COMMAND.gateway, environmentOf('gateway', rest))).toThrow(ConfigError);
  });

  it('should give the secrets to the gateway only', () => {
    for (const name of ['migrate', 'quota', 'delivery']) {
      expect(Object.keys(services[name].environment ?? {})).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/^(AUTH_JWT_SECRET|ADMIN_TOKEN|PAGING_TOKEN_KEYS)$/)]),
      );
    }
  });

  it('should point every app at the compose postgres, redis and quota services', () => {
    for (const name of APP_SERVICES) {
      const env = environmentOf(name, REQUIRED_SECRETS);
      expect(hostOf(env.DATABASE_URL)).toBe('postgres');
      expect(hostOf(env.REDIS_URL)).toBe('redis');
    }
    const gateway = services.gateway.environment ?? {};
    expect(gateway.QUOTA_HOST).toBe('quota');
    expect(gateway.QUOTA_PORT).toBe(services.quota.environment?.QUOTA_PORT);
    // One password for the server and its clients.
    expect(services.postgres.environment?.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD:-postgres}');
    expect(String(gateway.DATABASE_URL)).toContain('${POSTGRES_PASSWORD:-postgres}@postgres:5432/');
  });

  it('should give the delivery workers a grace period for their in-flight jobs', () => {
    for (const name of ['quota', 'gateway', 'delivery']) {
      expect((services[name] as { stop_grace_period?: string }).stop_grace_period).toBe('30s');
    }
  });
});

describe('the compose load balancer (deploy/compose/haproxy.cfg)', () => {
  const lb = services[LOAD_BALANCER];
  const mount = (lb.volumes ?? []).map((volume) => volume.split(':')).find(([, target]) => target.endsWith('haproxy.cfg'));
  const config = mount ? readText(mount[0].replace(/^\.\//, '')) : '';

  it('should mount a config file that exists in the repository', () => {
    expect(mount).toBeDefined();
    expect(existsSync(join(ROOT, mount![0]))).toBe(true);
  });

  it('should balance over every gateway replica at the gateway port', () => {
    const template = /^\s*server-template\s+\S+\s+(\d+)\s+"gateway:\$\{PORT-(\d+)\}"/m.exec(config);

    expect(template).not.toBeNull();
    expect(Number(template![1])).toBeGreaterThanOrEqual(2);
    expect(template![2]).toBe(defaultOf(CONFIG_OF_COMMAND.gateway, 'PORT'));
    // The load balancer resolves the same PORT the gateway listens on.
    expect(lb.environment?.PORT).toBe(services.gateway.environment?.PORT);
  });

  it("should send the internal frontend to the gateways' internal port, and the public one never there", () => {
    const frontends = Object.fromEntries(
      [...config.matchAll(/^frontend (\S+)\n((?:[ \t]+.*\n?)*)/gm)].map(([, name, body]) => [name, body]),
    );
    const backendOf = (frontend: string): string | undefined => /default_backend (\S+)/.exec(frontends[frontend] ?? '')?.[1];
    const serversOf = (backend: string | undefined): string | undefined =>
      new RegExp(`^backend ${backend}\\n(?:[ \\t]+.*\\n?)*?\\s*server-template \\S+ \\d+ "([^"]+)"`, 'm').exec(config)?.[1];

    expect(frontends.internal).toMatch(/^\s*bind :8081$/m);
    expect(serversOf(backendOf('internal'))).toBe('gateway:${INTERNAL_PORT-3004}');
    expect(serversOf(backendOf('http'))).toBe('gateway:${PORT-3000}');
    expect(defaultOf(CONFIG_OF_COMMAND.gateway, 'INTERNAL_PORT')).toBe('3004');
    expect(lb.environment?.INTERNAL_PORT).toBe(services.gateway.environment?.INTERNAL_PORT);
    expect(services.gateway.environment).toMatchObject({ INTERNAL_LISTENER: 'true', INTERNAL_HOST: '0.0.0.0' });
  });

  it('should keep inbox event streams open: idle timeouts past two heartbeats, room for 10,000 streams', () => {
    const heartbeat = Number(defaultOf(CONFIG_OF_COMMAND.gateway, 'INBOX_STREAM_HEARTBEAT_SECONDS'));
    const seconds = (name: string): number => {
      const value = new RegExp(`^\\s*timeout ${name} (\\d+)s$`, 'm').exec(config)?.[1];
      return value === undefined ? NaN : Number(value);
    };

    expect(services.gateway.environment?.INBOX_STREAM_HEARTBEAT_SECONDS).toBe(
      `\${INBOX_STREAM_HEARTBEAT_SECONDS:-${heartbeat}}`,
    );
    expect(seconds('client')).toBeGreaterThanOrEqual(2 * heartbeat);
    expect(seconds('server')).toBeGreaterThanOrEqual(2 * heartbeat);
    expect(Number(/^\s*maxconn (\d+)$/m.exec(config)?.[1])).toBeGreaterThanOrEqual(10_000);
    // Nothing that would hold a response back: no compression, no response caching.
    expect(config).not.toMatch(/^\s*(compression|http-response cache|cache) /m);
  });

  it('should take unready gateways out of rotation', () => {
    expect(config).toMatch(/^\s*option httpchk GET \/readyz$/m);
    expect(config).toMatch(/^\s*http-check expect status 200$/m);
    // Re-resolve the replicas through Docker's DNS.
    expect(config).toMatch(/nameserver \S+ 127\.0\.0\.11:53/);
  });

  it("should answer the contract's 503 with Retry-After when no gateway is ready", () => {
    const rule =
      /^\s*http-error status 503 content-type "application\/json" string "((?:[^"\\]|\\.)*)" hdr Retry-After (\d+)$/m.exec(
        config,
      );
    const { DEPENDENCY_UNAVAILABLE: expected } = ERRORS;

    expect(rule).not.toBeNull();
    expect(JSON.parse(rule![1].replace(/\\"/g, '"'))).toEqual({
      errorSource: expected.source,
      errorCode: expected.code,
      errorMessage: expected.message,
    });
    expect(Number(rule![2])).toBeGreaterThan(0);
  });

  it('should listen on the published container port and answer its own health check', () => {
    const containerPort = (lb.ports ?? [])[0]?.split(':').pop();

    expect(config).toMatch(new RegExp(`^\\s*bind :${containerPort}$`, 'm'));
    const path = /^\s*monitor-uri (\S+)$/m.exec(config)?.[1];
    expect(lb.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${containerPort}${path}`);
  });
});

describe('the image (Dockerfile, deploy/docker-entrypoint.sh, .dockerignore)', () => {
  const dockerfile = readText('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1] ?? '';

  it('should build in two stages on node:20-bookworm-slim and drop the dev dependencies', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(stages.map((stage) => stage.split('\n')[0])).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    expect(stages[0]).toMatch(/npm ci\b/);
    expect(stages[0]).toMatch(/npm run build\b/);
    expect(stages[0]).toMatch(/npm prune --omit=dev\b/);
  });

  it('should run as the node user in production with only the pruned modules, dist and the entry point', () => {
    expect(runtime).toMatch(/^ENV NODE_ENV=production$/m);
    expect(runtime).toMatch(/^USER node$/m);
    const copied = [...runtime.matchAll(/^COPY (?:--from=build )?(\S+)/gm)].map((match) => match[1]);
    expect(copied).toEqual(['/app/package.json', '/app/node_modules', '/app/dist', 'deploy/docker-entrypoint.sh']);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/bin\/sh", "\/app\/docker-entrypoint\.sh"\]$/m);
    expect(runtime).toMatch(/^CMD \["gateway"\]$/m);
  });

  it('should map every entry point command to a compiled file whose source exists', () => {
    const commands = entrypointCommands();

    expect([...commands.keys()].sort()).toEqual(
      ['delivery', 'directory-import', 'gateway', 'migrate', 'migrate-revert', 'quota'].sort(),
    );
    for (const [command, target] of commands) {
      expect({ command, source: existsSync(join(ROOT, sourceOfDistFile(target))) }).toEqual({ command, source: true });
    }
  });

  it('should exec node (so it is PID 1 and receives SIGTERM) from a script sh accepts', () => {
    const script = readText('deploy/docker-entrypoint.sh');

    expect(() => execFileSync('sh', ['-n', join(ROOT, 'deploy/docker-entrypoint.sh')])).not.toThrow();
    expect(script).toMatch(/^set -eu$/m);
    expect(script).not.toMatch(/^\s*node /m);
  });

  it('should send the build only what the build stage copies', () => {
    const ignore = readText('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const allowed = new Set(ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1)));
    const sources = [...stages[0].matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => match[1].split(/\s+/));
    sources.push(...[...runtime.matchAll(/^COPY (?!--from)(\S+) \S+$/gm)].map((match) => match[1]));

    expect(ignore[0]).toBe('*');
    expect(sources.filter((source) => !allowed.has(source))).toEqual([]);
    for (const source of sources) expect(existsSync(join(ROOT, source))).toBe(true);
  });
});
