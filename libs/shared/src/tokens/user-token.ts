import { SignJWT } from 'jose';
import { Xuid } from '../xuid';

export enum SubscriptionTier {
  Gold = 'gold',
  Silver = 'silver',
}

/** What the gateway knows about a caller once their token is verified (docs/api.md, Authentication). */
export interface UserIdentity {
  xuid: Xuid;
  gamertag: string | null;
  tier: SubscriptionTier | null;
}

/**
 * The HS256 secret used when AUTH_JWT_SECRET is unset outside production, so
 * `npm start` and `npm run token` work with no settings. Never valid in
 * production: the config refuses to start without a real key there.
 */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production-0001';
export const DEVELOPMENT_ADMIN_TOKEN = 'development-admin-token';

export interface DevelopmentTokenOptions {
  xuid: Xuid;
  gamertag?: string;
  tier?: SubscriptionTier;
  secret: string;
  expiresInSeconds?: number;
  issuer?: string;
  audience?: string;
}

/** Signs a user token with an HS256 secret (development command and tests). */
export async function signUserToken(options: DevelopmentTokenOptions): Promise<string> {
  const claims: Record<string, string> = { xid: options.xuid };
  if (options.gamertag !== undefined) claims.gtg = options.gamertag;
  if (options.tier !== undefined) claims.tier = options.tier;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600));
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
