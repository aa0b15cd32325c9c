import { Logger } from '@nestjs/common';
import { ulid } from 'ulid';
import { parseKeyList } from '@app/shared/config';
import { QUOTA_PATTERNS, QuotaCredentialsRefused, QuotaReserveRequest } from '@app/shared/contracts';
import { ERRORS } from '@app/shared/errors';
import { QuotaRpcSigner } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';
import { send } from '../factories/outbox.factory';
import { createUser, uniqueXuid } from '../factories/users.factory';
import { QuotaRpc } from '../setup/quota-rpc';
import { privateRedisPrefix, redisKeysOf } from '../setup/redis-namespace';
import { readiness, RunningGateway, RunningQuota, startGateway, startQuota, waitUntilReady } from '../setup/services';

// Quota lists the new key first and the old one second, as in the middle of a rotation.
const OLD_SECRET = `old-${'o'.repeat(32)}`;
const NEW_SECRET = `new-${'n'.repeat(32)}`;
const OLD = `k1:${OLD_SECRET}`;
const NEW = `k2:${NEW_SECRET}`;
const WRONG_SECRET = `k1:wrong-${'w'.repeat(32)}`;
const UNKNOWN_KID = `k9:${'u'.repeat(40)}`;

const refusal = (reason: string): QuotaCredentialsRefused => ({ refused: 'credentials', reason });

/** Every quota pattern, with a payload that would change the sender's quota (or read it). */
function callsFor(sender: Xuid, messageId: string): [string, object][] {
  const reserve: QuotaReserveRequest = { senderXuid: sender, messageId, recipients: 2, strangers: 1, sentAt: Date.now() };
  return [
    [QUOTA_PATTERNS.reserve, reserve],
    [QUOTA_PATTERNS.release, { senderXuid: sender, messageId, sentAt: reserve.sentAt }],
    [QUOTA_PATTERNS.confirm, { messages: [{ senderXuid: sender, messageId }] }],
    [QUOTA_PATTERNS.usage, { senderXuid: sender, now: Date.now() }],
    [QUOTA_PATTERNS.ping, {}],
  ];
}

const signedWith =
  (keys: string) =>
  (pattern: string, payload: object): object =>
    new QuotaRpcSigner(parseKeyList(keys)).sign(pattern, payload);

describe('quota RPC authentication (QUOTA_RPC_KEYS)', () => {
  const quotaPrefix = privateRedisPrefix('quota-auth');
  // The gateways enqueue into a queue of their own, which no worker reads.
  const gatewayPrefix = privateRedisPrefix('quota-auth-gw');
  const logged: string[] = [];
  let quota: RunningQuota;
  let rpc: QuotaRpc;

  beforeAll(async () => {
    // The services log through Nest's Logger (silenced by LOG_LEVEL); record what they say, with the context.
    jest.spyOn(Logger.prototype, 'error').mockImplementation(function (this: Logger, message: unknown) {
      logged.push(`[${this['context']}] ${String(message)}`);
    });
    quota = await startQuota({ REDIS_PREFIX: quotaPrefix, QUOTA_RPC_KEYS: `${NEW},${OLD}` });
    await waitUntilReady(quota);
    rpc = new QuotaRpc(quota.rpcPort, NEW);
    await rpc.connect();
  });

  afterAll(async () => {
    await rpc?.close();
    await quota?.close();
    jest.restoreAllMocks();
  });

  describe('a caller without a valid credential', () => {
    it.each([
      ['no credential', (_: string, payload: object) => payload, 'no credential'],
      ['the right kid but a wrong secret', signedWith(WRONG_SECRET), 'bad signature for kid k1'],
      ['an unknown kid', signedWith(UNKNOWN_KID), 'unknown kid k9'],
    ])('should be refused on every pattern with %s, and change nothing in Redis', async (_, sign, reason) => {
      const sender = uniqueXuid();
      const messageId = ulid();

      for (const [pattern, payload] of callsFor(sender, messageId)) {
        const answer = await rpc.sendUnsigned(pattern, sign(pattern, payload)).catch((error: unknown) => ({ error }));
        expect({ pattern, answer }).toEqual({ pattern, answer: { error: refusal(reason) } });
      }

      expect(await rpc.usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
      expect((await redisKeysOf(quotaPrefix)).filter((key) => key.includes(`{${sender}}`))).toEqual([]);
      // A release that had gone through would have left a tombstone: this reserve would be given up.
      expect(await rpc.reserve(callsFor(sender, messageId)[0][1] as QuotaReserveRequest)).toEqual({ accepted: true });
    });

    it('should refuse a credential copied from another call onto a changed payload', async () => {
      const sender = uniqueXuid();
      const [[pattern, payload]] = callsFor(sender, ulid());
      const signed = signedWith(NEW)(pattern, payload) as QuotaReserveRequest;

      const answer = await rpc.sendUnsigned(pattern, { ...signed, recipients: 1 }).catch((error: unknown) => error);

      expect(answer).toEqual(refusal('bad signature for kid k2'));
      expect(await rpc.usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
    });

    it('should count the refusals by reason and log each cause, naming no secret', async () => {
      const metrics = await (await fetch(`${quota.url}/metrics`)).text();

      for (const reason of ['missing', 'bad-signature', 'unknown-kid']) {
        expect(metrics).toMatch(new RegExp(`^quota_rpc_refused_total\\{reason="${reason}"\\} [1-9]\\d*$`, 'm'));
      }
      expect(metrics).toMatch(/^quota_rpc_refused_total\{reason="malformed"\} 0$/m);
      expect(logged).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\[QuotaRpcAuthGuard\] Refused a quota\.reserve call from \S+: no credential$/),
          expect.stringMatching(/^\[QuotaRpcAuthGuard\] Refused a quota\.reserve call from \S+: bad signature for kid k1$/),
          expect.stringMatching(/^\[QuotaRpcAuthGuard\] Refused a quota\.reserve call from \S+: unknown kid k9$/),
        ]),
      );
      // One line per cause: the other patterns' refusals were counted, not logged.
      expect(logged.filter((line) => line.includes('unknown kid k9'))).toHaveLength(1);
      for (const secret of [OLD_SECRET, NEW_SECRET, 'w'.repeat(32), 'u'.repeat(32)]) {
        expect(logged.join('\n')).not.toContain(secret);
      }
    });
  });

  describe('rotation: quota lists k2 (new) first and k1 (old) second', () => {
    it('should accept calls signed with k1 and calls signed with k2', async () => {
      const sender = uniqueXuid();
      const signingOld = new QuotaRpc(quota.rpcPort, OLD);
      const signingNew = new QuotaRpc(quota.rpcPort, `${NEW},${OLD}`);
      try {
        for (const client of [signingOld, signingNew]) {
          expect(await client.reserve(callsFor(sender, ulid())[0][1] as QuotaReserveRequest)).toEqual({ accepted: true });
        }
        expect(await signingOld.usage(sender)).toEqual({ messages: 2, recipients: 4, strangers: 2, pending: 2 });
      } finally {
        await signingOld.close();
        await signingNew.close();
      }
    });

    it('should serve a gateway that still signs with k1 and one that signs with k2', async () => {
      const gateways = await Promise.all(
        [OLD, `${NEW},${OLD}`].map((keys) =>
          startGateway({ QUOTA_PORT: quota.rpcPort, QUOTA_RPC_KEYS: keys, REDIS_PREFIX: gatewayPrefix }),
        ),
      );
      try {
        for (const gateway of gateways) {
          const sender = await createUser(gateway.internalUrl);
          const recipient = await createUser(gateway.internalUrl);
          await waitUntilReady(gateway);

          expect((await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }])).status).toBe(200);
          expect(await rpc.usage(sender.xuid)).toMatchObject({ messages: 1, recipients: 1 });
        }
      } finally {
        for (const gateway of gateways) await gateway.close();
      }
    });
  });

  describe('a gateway with a key quota does not list', () => {
    let gateway: RunningGateway;

    beforeAll(async () => {
      gateway = await startGateway({ QUOTA_PORT: quota.rpcPort, QUOTA_RPC_KEYS: UNKNOWN_KID, REDIS_PREFIX: gatewayPrefix });
    });

    afterAll(async () => {
      await gateway?.close();
    });

    it('should answer sends 503 with Retry-After, charging nothing (fail closed)', async () => {
      const sender = await createUser(gateway.internalUrl);
      const recipient = await createUser(gateway.internalUrl);

      const answer = await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }]);

      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(answer.body).toEqual({
        errorSource: 'gateway',
        errorCode: ERRORS.DEPENDENCY_UNAVAILABLE.code,
        errorMessage: 'The quota service is unavailable; retry later.',
      });
      expect(await rpc.usage(sender.xuid)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
    });

    it('should stay ready for reads but degraded, saying quota refused the credentials', async () => {
      const response = await fetch(`${gateway.url}/readyz`);

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        status: 'degraded',
        checks: { postgres: 'up', redis: 'up', quota: 'down' },
        reasons: { quota: 'refused the credentials: unknown kid k9' },
      });
      expect((await readiness(gateway.url)).ready).toBe(false);
    });

    it('should log that quota refused the credentials, with quota’s reason', () => {
      expect(logged).toContain(`[QuotaClient] quota at 127.0.0.1:${quota.rpcPort} refused the credentials: unknown kid k9`);
    });
  });
});
