import { INestApplication } from '@nestjs/common';
import { loadConfig } from '@app/shared/config';
import { DeliveryConfig } from '../../apps/delivery/src/delivery.config';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.factory';
import { GatewayConfig } from '../../apps/gateway/src/gateway.config';
import { createGatewayApp, internalListenerOf } from '../../apps/gateway/src/gateway.factory';
import { QuotaConfig } from '../../apps/quota/src/quota.config';
import { createQuotaApp } from '../../apps/quota/src/quota.factory';
import { freePort } from './free-port';
import { testDatabaseUrl, testRedisPrefix, testRedisUrl } from './test-env';

export type Settings = Record<string, string | number | undefined>;

export interface RunningService {
  app: INestApplication;
  /** http://127.0.0.1:<port> of the service's HTTP listener. */
  url: string;
  close(): Promise<void>;
}

export interface RunningQuota extends RunningService {
  rpcPort: number;
}

export interface RunningGateway extends RunningService {
  /** http://127.0.0.1:<port> of the internal listener: /admin, /metrics, /docs (and the probes). */
  internalUrl: string;
}

/** The environment every service of a test run shares: the run's database and Redis namespace. */
export function baseSettings(): Settings {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: testDatabaseUrl(),
    DATABASE_POOL_SIZE: 4,
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: testRedisPrefix(),
    // Suites send hundreds of requests per user, and every suite's refused
    // tokens come from 127.0.0.1: the throttle is off here and on in
    // test/e2e/throttle.e2e-spec.ts, on a Redis namespace of its own.
    THROTTLE_BURST_REQUESTS: 0,
    THROTTLE_SUSTAIN_REQUESTS: 0,
    THROTTLE_FAILED_AUTH_REQUESTS: 0,
  };
}

function configFrom<T extends object>(cls: new () => T, settings: Settings): T {
  const source = Object.fromEntries(
    Object.entries({ ...baseSettings(), ...settings }).map(([key, value]) => [key, value?.toString()]),
  );
  return loadConfig(cls, source);
}

async function listening(app: INestApplication): Promise<RunningService> {
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, close: () => app.close() };
}

export async function startQuota(settings: Settings = {}): Promise<RunningQuota> {
  const rpcPort = await freePort();
  const config = configFrom(QuotaConfig, { QUOTA_LISTEN_HOST: '127.0.0.1', QUOTA_PORT: rpcPort, ...settings });
  const app = await createQuotaApp(config);
  await app.startAllMicroservices();
  return { ...(await listening(app)), rpcPort };
}

/**
 * A gateway; pass QUOTA_PORT of a running quota (or of nothing, to see it
 * unavailable). Its internal listener takes a port of the OS's choosing;
 * with INTERNAL_LISTENER=false, `internalUrl` is the public one.
 */
export async function startGateway(settings: Settings = {}): Promise<RunningGateway> {
  const app = await createGatewayApp(configFrom(GatewayConfig, { INTERNAL_HOST: '127.0.0.1', INTERNAL_PORT: 0, ...settings }));
  // A start that fails (a taken port) must not leave the app's pools open behind it.
  const running = await listening(app).catch(async (error: unknown) => {
    await app.close().catch(() => undefined);
    throw error;
  });
  return { ...running, internalUrl: internalListenerOf(app)?.url ?? running.url };
}

export async function startDelivery(settings: Settings = {}): Promise<RunningService> {
  return listening(await createDeliveryApp(configFrom(DeliveryConfig, settings)));
}

/** A gateway with a quota service behind it: the usual set for HTTP tests. */
export async function startStack(
  settings: { gateway?: Settings; quota?: Settings } = {},
): Promise<{ gateway: RunningGateway; quota: RunningQuota; close(): Promise<void> }> {
  const quota = await startQuota(settings.quota);
  const gateway = await startGateway({ QUOTA_PORT: quota.rpcPort, ...settings.gateway });
  return {
    gateway,
    quota,
    close: async () => {
      await gateway.close();
      await quota.close();
    },
  };
}

/** GET /readyz: its status (0 when nothing answers), and whether every check is up (200 "ready", not "degraded"). */
export async function readiness(url: string): Promise<{ status: number; ready: boolean }> {
  try {
    const response = await fetch(`${url}/readyz`);
    const body = (await response.json()) as { status?: string };
    return { status: response.status, ready: response.status === 200 && body.status === 'ready' };
  } catch {
    return { status: 0, ready: false };
  }
}

export const fullyReady = async (url: string): Promise<boolean> => (await readiness(url)).ready;

/** Polls GET /readyz until every check is up: a service takes traffic before its connections are up. */
export async function waitUntilReady(service: RunningService, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, ready } = await readiness(service.url);
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${service.url} not ready after ${timeoutMs} ms (last status ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
