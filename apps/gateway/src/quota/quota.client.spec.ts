import { Logger } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { NEVER, Observable, of, throwError } from 'rxjs';
import { Registry } from 'prom-client';
import { loadConfig, parseKeyList } from '@app/shared/config';
import { QUOTA_PATTERNS } from '@app/shared/contracts';
import { ERRORS } from '@app/shared/errors';
import { METRICS_REGISTRY } from '@app/shared/metrics';
import { QuotaRpcVerifier } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';
import { GatewayMetrics } from '../gateway.metrics';
import { QuotaUnavailableError } from './quota-failure';
import { QUOTA_RPC, QuotaClient } from './quota.client';

const NEW = `k2:${'n'.repeat(32)}`;
const OLD = `k1:${'o'.repeat(32)}`;
const refused = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:3009`), { code });

describe('QuotaClient', () => {
  let answer: () => Observable<unknown>;
  let sent: { pattern: string; data: unknown }[];
  let client: QuotaClient;
  let lines: string[];

  beforeEach(async () => {
    lines = [];
    // Nest's Logger, as the client writes it (context included), without printing.
    jest.spyOn(Logger.prototype, 'error').mockImplementation(function (this: Logger, message: unknown) {
      lines.push(`error [${this['context']}] ${String(message)}`);
    });
    jest.spyOn(Logger.prototype, 'log').mockImplementation(function (this: Logger, message: unknown) {
      lines.push(`log [${this['context']}] ${String(message)}`);
    });
    sent = [];
    const send = (pattern: string, data: unknown): Observable<unknown> => {
      sent.push({ pattern, data });
      return answer();
    };
    const rpc = { send, close: () => Promise.resolve() } as unknown as ClientProxy;
    const module = await Test.createTestingModule({
      providers: [
        QuotaClient,
        GatewayMetrics,
        { provide: QUOTA_RPC, useValue: rpc },
        { provide: METRICS_REGISTRY, useValue: new Registry() },
        {
          provide: GatewayConfig,
          useValue: loadConfig(GatewayConfig, {
            QUOTA_HOST: '127.0.0.1',
            QUOTA_PORT: '3009',
            QUOTA_TIMEOUT_MS: '50',
            QUOTA_RPC_KEYS: `${NEW},${OLD}`,
          }),
        },
      ],
    }).compile();
    client = module.get(QuotaClient);
    lines = [];
  });

  afterEach(() => jest.restoreAllMocks());

  it('should answer 503 with Retry-After 1 and name the cause when quota is unreachable', async () => {
    answer = () => throwError(() => refused('ECONNREFUSED'));

    const failure = await client.ping().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(QuotaUnavailableError);
    expect(failure).toMatchObject({ definition: ERRORS.DEPENDENCY_UNAVAILABLE, retryAfterSeconds: 1 });
    expect((failure as QuotaUnavailableError).reason).toBe('unreachable: ECONNREFUSED');
    expect(lines).toEqual(['error [QuotaClient] quota unreachable at 127.0.0.1:3009: ECONNREFUSED']);
  });

  it('should sign every call with the first QUOTA_RPC_KEYS key', async () => {
    answer = () => of({ released: true });
    const request = { senderXuid: '42' as Xuid, messageId: 'm1', sentAt: 1 };

    await client.release(request);

    expect(sent).toEqual([
      { pattern: QUOTA_PATTERNS.release, data: { ...request, credential: { kid: 'k2', mac: expect.any(String) as string } } },
    ]);
    const quotaKnowingOnlyNew = new QuotaRpcVerifier(parseKeyList(NEW));
    expect(quotaKnowingOnlyNew.verify(QUOTA_PATTERNS.release, sent[0].data)).toEqual({ accepted: true });
  });

  it('should answer 503 and log quota’s reason when quota refuses the credentials', async () => {
    answer = () => throwError(() => ({ refused: 'credentials', reason: 'unknown kid k2' }));

    await expect(client.ping()).rejects.toMatchObject({
      definition: ERRORS.DEPENDENCY_UNAVAILABLE,
      reason: 'refused the credentials: unknown kid k2',
    });

    expect(lines).toEqual(['error [QuotaClient] quota at 127.0.0.1:3009 refused the credentials: unknown kid k2']);
    expect(lines.join('\n')).not.toContain('n'.repeat(32));
  });

  it('should log a timeout with the time it waited when quota does not answer', async () => {
    answer = () => NEVER;

    await expect(client.ping()).rejects.toMatchObject({ reason: 'did not answer within 50 ms' });

    expect(lines).toEqual(['error [QuotaClient] quota at 127.0.0.1:3009 did not answer within 50 ms']);
  });

  it("should log quota's own error reply when a handler failed", async () => {
    answer = () =>
      throwError(() => ({ status: 503, errorCode: 1006, errorMessage: 'A dependency is unavailable; retry later.' }));

    await expect(client.ping()).rejects.toBeInstanceOf(QuotaUnavailableError);

    expect(lines).toEqual([
      'error [QuotaClient] quota at 127.0.0.1:3009 answered an error: A dependency is unavailable; retry later. (errorCode 1006)',
    ]);
  });

  it('should log a failure once when every call fails, and each new cause at once', async () => {
    answer = () => throwError(() => refused('ECONNREFUSED'));
    for (let i = 0; i < 50; i++) await client.ping().catch(() => undefined);
    answer = () => throwError(() => new Error('Connection closed'));
    for (let i = 0; i < 50; i++) await client.ping().catch(() => undefined);

    expect(lines).toEqual([
      'error [QuotaClient] quota unreachable at 127.0.0.1:3009: ECONNREFUSED',
      'error [QuotaClient] quota at 127.0.0.1:3009 closed the connection before answering',
    ]);
  });

  it('should log the recovery once when quota answers again', async () => {
    answer = () => throwError(() => refused('ECONNREFUSED'));
    for (let i = 0; i < 3; i++) await client.ping().catch(() => undefined);
    answer = () => of({ redis: 'up' });

    expect(await client.ping()).toEqual({ redis: 'up' });
    expect(await client.ping()).toEqual({ redis: 'up' });

    expect(lines).toEqual([
      'error [QuotaClient] quota unreachable at 127.0.0.1:3009: ECONNREFUSED',
      expect.stringMatching(/^log \[QuotaClient\] quota answers again after 3 failed calls in \d+\.\d s$/),
    ]);
  });

  it('should log nothing when every call succeeds', async () => {
    answer = () => of({ redis: 'up' });

    await client.ping();

    expect(lines).toEqual([]);
  });
});
