/**
 * Prints a development user token signed with AUTH_JWT_SECRET (or the
 * development secret), for trying the API from a shell:
 *   npm run token -- --xuid 2533274790412952 --gamertag Striker [--silver] [--ttl 3600]
 */
import { parseArgs } from 'node:util';
import { loadConfigFromEnvironment } from '@app/shared/config';
import { runService } from '@app/shared/http/boot';
import { signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { parseXuid } from '@app/shared/xuid';
import { GatewayConfig } from '../apps/gateway/src/gateway.config';

const USAGE = 'usage: npm run token -- --xuid <xuid> [--gamertag <gamertag>] [--silver] [--ttl <seconds>]';

runService('token', async () => {
  const { values } = parseArgs({
    options: {
      xuid: { type: 'string' },
      gamertag: { type: 'string' },
      silver: { type: 'boolean', default: false },
      ttl: { type: 'string', default: '3600' },
    },
  });
  const xuid = values.xuid === undefined ? null : parseXuid(values.xuid);
  const ttl = Number(values.ttl);
  if (xuid === null || !Number.isInteger(ttl) || ttl <= 0) throw new Error(USAGE);
  const config = loadConfigFromEnvironment(GatewayConfig);
  if (config.usesAsymmetricTokens) {
    throw new Error('the gateway verifies tokens with a public key here; mint them with your identity provider');
  }
  const token = await signUserToken({
    xuid,
    gamertag: values.gamertag,
    tier: values.silver ? SubscriptionTier.Silver : SubscriptionTier.Gold,
    secret: config.AUTH_JWT_SECRET as string,
    expiresInSeconds: ttl,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
  });
  process.stdout.write(`${token}\n`);
});
