import { Injectable } from '@nestjs/common';
import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, JWTPayload, jwtVerify, JWTVerifyGetKey } from 'jose';
import { isPossibleGamertag } from '@app/shared/directory/gamertag';
import { AppError, ERRORS } from '@app/shared/errors';
import { SubscriptionTier, UserIdentity } from '@app/shared/tokens';
import { parseXuid, XUID_RULE } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';

type VerificationKey = KeyObject | JWTVerifyGetKey;

// A console sends the same token for as long as it lives; verifying it again
// on every request cost 6 % of the gateway's CPU. A verified token is
// remembered (by its exact bytes) until it expires, at most a minute, so a
// key withdrawn from a JWKS stops working within a minute as well.
const REMEMBERED_TOKENS = 10_000;
const REMEMBER_MS = 60_000;

interface Remembered {
  identity: UserIdentity;
  notBeforeMs: number;
  untilMs: number;
}

/**
 * Verifies user tokens (docs/api.md, Authentication). The accepted algorithms follow
 * from the configured key alone, so a token can never pick its own: with a
 * shared secret only HS256; with a public key or JWKS only RS256/ES256. That
 * refuses `alg: none` and algorithm confusion (an HS256 token "signed" with the
 * public key).
 */
@Injectable()
export class TokenVerifier {
  private readonly key: VerificationKey;
  private readonly algorithms: string[];
  private readonly remembered = new Map<string, Remembered>();

  constructor(private readonly config: GatewayConfig) {
    if (config.AUTH_JWKS_URL) {
      this.key = createRemoteJWKSet(new URL(config.AUTH_JWKS_URL), { timeoutDuration: 2000 });
      this.algorithms = ['RS256', 'ES256'];
    } else if (config.AUTH_PUBLIC_KEY) {
      const publicKey = createPublicKey(config.AUTH_PUBLIC_KEY);
      this.key = publicKey;
      this.algorithms = [algorithmOf(publicKey)];
    } else {
      // A KeyObject made once: given bytes, jose would make one on every verification.
      this.key = createSecretKey(Buffer.from(config.AUTH_JWT_SECRET as string, 'utf8'));
      this.algorithms = ['HS256'];
    }
  }

  async verify(token: string): Promise<UserIdentity> {
    const now = Date.now();
    const remembered = this.remembered.get(token);
    if (remembered !== undefined) {
      if (now >= remembered.notBeforeMs && now < remembered.untilMs) return remembered.identity;
      this.remembered.delete(token);
    }
    const verified = await this.verifyToken(token);
    this.remember(token, verified, now);
    return verified.identity;
  }

  private remember(token: string, { identity, payload }: { identity: UserIdentity; payload: JWTPayload }, now: number): void {
    if (this.remembered.size >= REMEMBERED_TOKENS) this.remembered.delete(this.remembered.keys().next().value as string);
    this.remembered.set(token, {
      identity,
      notBeforeMs: typeof payload.nbf === 'number' ? payload.nbf * 1000 : 0,
      // jose requires exp; a token is expired from its exp second on.
      untilMs: Math.min((payload.exp as number) * 1000, now + REMEMBER_MS),
    });
  }

  private async verifyToken(token: string): Promise<{ identity: UserIdentity; payload: JWTPayload }> {
    const payload = await this.verifySignature(token);
    // A numeric xid is refused: a JSON number above 2^53 may already name someone else.
    const xuid = typeof payload.xid === 'string' ? parseXuid(payload.xid) : null;
    if (xuid === null) {
      throw new AppError(
        ERRORS.TOKEN_CLAIMS_INVALID,
        `The token claim "xid" must be a JSON string of ${XUID_RULE}; a JSON number is refused.`,
      );
    }
    const identity: UserIdentity = {
      xuid,
      gamertag: isPossibleGamertag(payload.gtg) ? payload.gtg : null,
      tier: payload.tier === SubscriptionTier.Gold || payload.tier === SubscriptionTier.Silver ? payload.tier : null,
    };
    return { identity, payload };
  }

  private async verifySignature(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.key as KeyObject, {
        algorithms: this.algorithms,
        issuer: this.config.AUTH_ISSUER,
        audience: this.config.AUTH_AUDIENCE,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (error) {
      throw translate(error, this.config.AUTH_JWKS_URL !== undefined);
    }
  }
}

function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error('AUTH_PUBLIC_KEY must be an RSA key (RS256) or a P-256 EC key (ES256)');
}

function translate(error: unknown, fetchesKeys: boolean): unknown {
  if (error instanceof errors.JWTExpired) return new AppError(ERRORS.TOKEN_EXPIRED);
  if (error instanceof errors.JWTClaimValidationFailed) {
    const why = error.reason === 'missing' ? 'is missing; it is required' : `is not acceptable (${error.message})`;
    return new AppError(ERRORS.TOKEN_CLAIMS_INVALID, `The token claim "${error.claim}" ${why}.`);
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'The token signing keys cannot be fetched; retry later.', 1);
  }
  // Verdicts on a token are JOSEError subclasses; a plain JOSEError while keys are
  // fetched means the key server answered badly (not 200, not a key set).
  if (fetchesKeys && error instanceof errors.JOSEError && error.constructor === errors.JOSEError) {
    return new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'The token signing keys cannot be fetched; retry later.', 1);
  }
  if (error instanceof errors.JOSEError) return new AppError(ERRORS.TOKEN_INVALID);
  // Not a verdict on the token (a JWKS host down, say): the filter decides.
  return error;
}
