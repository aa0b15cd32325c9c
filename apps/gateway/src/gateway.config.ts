import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength } from 'class-validator';
import {
  CrossFieldCheck,
  IsKeyList,
  IsPositiveInt,
  IsTcpPort,
  KeyListEntry,
  parseKeyList,
  SharedConfig,
} from '@app/shared/config';
import { isPossibleGamertag, GAMERTAG_RULE } from '@app/shared/directory/gamertag';
import { quotaRpcKeysProblems } from '@app/shared/quota';
import { parseXuid, XUID_RULE } from '@app/shared/xuid';
import { DEVELOPMENT_ADMIN_TOKEN, DEVELOPMENT_JWT_SECRET } from '@app/shared/tokens';

/** One key that signs or verifies inbox continuation tokens. */
export interface PagingTokenKey {
  kid: string;
  secret: string;
}

// Used when PAGING_TOKEN_KEYS is unset outside production; refused in production.
export const DEVELOPMENT_PAGING_TOKEN_KEYS = 'dev1:development-only-paging-token-secret-do-not-use';
const PAGING_TOKEN_KEYS_FORMAT = /^[A-Za-z0-9]{1,8}:[^,\s]{32,}(,[A-Za-z0-9]{1,8}:[^,\s]{32,})*$/;

export class GatewayConfig extends SharedConfig implements CrossFieldCheck {
  @IsTcpPort()
  PORT: number = 3000;

  @IsString()
  HOST: string = '0.0.0.0';

  /**
   * Serve the internal surfaces (/admin, /metrics, /docs) on their own
   * listener, INTERNAL_HOST:INTERNAL_PORT, and answer 404 for them on the
   * public port. `false` serves everything on the public port (only behind a
   * proxy that keeps those paths off the internet).
   */
  @IsIn(['true', 'false'])
  INTERNAL_LISTENER: 'true' | 'false' = 'true';

  @IsTcpPort()
  INTERNAL_PORT: number = 3004;

  /** Loopback by default; containers set 0.0.0.0 and keep the port off the load balancer. */
  @IsString()
  INTERNAL_HOST: string = '127.0.0.1';

  @IsString()
  QUOTA_HOST: string = '127.0.0.1';

  @IsTcpPort()
  QUOTA_PORT: number = 3001;

  /** How long a send waits for the quota service before answering 503. */
  @IsInt()
  @Min(50)
  @Max(30_000)
  QUOTA_TIMEOUT_MS: number = 1000;

  /**
   * Keys of the quota RPC, shared with quota: comma-separated `kid:secret`
   * pairs (kid 1..8 letters or digits, secret at least 32 characters). Every
   * call is signed with the first; quota accepts any it lists.
   */
  @IsKeyList()
  QUOTA_RPC_KEYS?: string;

  /** HS256 key for user tokens (at least 32 characters). */
  @IsOptional()
  @MinLength(32)
  AUTH_JWT_SECRET?: string;

  /** PEM public key (RSA for RS256, P-256 for ES256). */
  @IsOptional()
  @Matches(/-----BEGIN PUBLIC KEY-----/, { message: 'must be a PEM "PUBLIC KEY"' })
  AUTH_PUBLIC_KEY?: string;

  @IsOptional()
  @IsUrl({ protocols: ['https', 'http'], require_tld: false, require_protocol: true })
  AUTH_JWKS_URL?: string;

  @IsOptional()
  @IsString()
  AUTH_ISSUER?: string;

  @IsOptional()
  @IsString()
  AUTH_AUDIENCE?: string;

  /** Bearer token of the admin API (at least 16 characters). */
  @IsOptional()
  @MinLength(16)
  ADMIN_TOKEN?: string;

  @IsPositiveInt()
  MESSAGE_TTL_SECONDS: number = 2_592_000;

  /**
   * Keys for inbox continuation tokens: comma-separated `kid:secret` pairs
   * (kid 1..8 letters or digits, secret at least 32 characters). The first
   * signs; the others are still accepted, so a key can be rotated out without
   * breaking enumerations in progress.
   */
  @IsOptional()
  @Matches(PAGING_TOKEN_KEYS_FORMAT, {
    message: 'must be comma-separated kid:secret pairs (kid 1..8 letters or digits, secret at least 32 characters)',
  })
  PAGING_TOKEN_KEYS?: string;

  @IsIn(['true', 'false'])
  TRUST_PROXY: 'true' | 'false' = 'false';

  /**
   * Requests one user (the token's XUID) may make in THROTTLE_BURST_SECONDS
   * and in THROTTLE_SUSTAIN_SECONDS, counted together in Redis across every
   * gateway; past either, 429. Refused requests count too. 0 turns a limit off.
   */
  @IsInt()
  @Min(0)
  THROTTLE_BURST_REQUESTS: number = 60;

  @IsPositiveInt(3600)
  THROTTLE_BURST_SECONDS: number = 15;

  @IsInt()
  @Min(0)
  THROTTLE_SUSTAIN_REQUESTS: number = 600;

  @IsPositiveInt(86_400)
  THROTTLE_SUSTAIN_SECONDS: number = 300;

  /** Failed authentications one client address may make in THROTTLE_FAILED_AUTH_SECONDS before 429; 0 turns it off. */
  @IsInt()
  @Min(0)
  THROTTLE_FAILED_AUTH_REQUESTS: number = 30;

  @IsPositiveInt(86_400)
  THROTTLE_FAILED_AUTH_SECONDS: number = 60;

  /**
   * Inbox event streams (GET .../inbox/events) one player may have open across
   * every gateway; opening one more closes the oldest (docs/api.md, Inbox events).
   */
  @IsPositiveInt(100)
  INBOX_STREAMS_PER_USER: number = 5;

  /** Seconds between heartbeat comments on every open stream, so proxies and clients see it alive. */
  @IsPositiveInt(300)
  INBOX_STREAM_HEARTBEAT_SECONDS: number = 15;

  /**
   * Bytes a stream may have written but not yet taken by its client; a client
   * that falls further behind is dropped (it reconnects with Last-Event-ID and
   * misses nothing), so a slow reader never grows the gateway's memory.
   */
  @IsInt()
  @Min(4096)
  @Max(16_777_216)
  INBOX_STREAM_BUFFER_BYTES: number = 65_536;

  /**
   * The sender recipients see on a system message (a broadcast): its XUID
   * (shown as `senderXuid`, need not be in the directory) and gamertag. Fixed
   * on each broadcast when it is accepted.
   */
  @Matches(/^\d{1,20}$/, { message: `must be ${XUID_RULE}` })
  SYSTEM_SENDER_XUID: string = '1';

  @IsString()
  SYSTEM_SENDER_GAMERTAG: string = 'LIVE System';

  /**
   * Recipients per broadcast chunk: each chunk is one job and one statement
   * of the delivery workers. Larger chunks write faster but hold their
   * inboxes' counter rows longer (a user message to one of them waits).
   */
  @IsPositiveInt(10_000)
  BROADCAST_CHUNK_SIZE: number = 2000;

  get usesAsymmetricTokens(): boolean {
    return this.AUTH_PUBLIC_KEY !== undefined || this.AUTH_JWKS_URL !== undefined;
  }

  /** The continuation token keys, the signing key first. */
  get pagingTokenKeys(): PagingTokenKey[] {
    if (this.PAGING_TOKEN_KEYS === undefined) return [];
    return this.PAGING_TOKEN_KEYS.split(',').map((pair) => {
      const colon = pair.indexOf(':');
      return { kid: pair.slice(0, colon), secret: pair.slice(colon + 1) };
    });
  }

  /** The quota RPC keys, the signing key first. */
  get quotaRpcKeys(): KeyListEntry[] {
    return parseKeyList(this.QUOTA_RPC_KEYS);
  }

  /** Secrets have development defaults only outside production. */
  crossFieldProblems(): string[] {
    const problems: string[] = [];
    if (this.AUTH_PUBLIC_KEY !== undefined && this.AUTH_JWKS_URL !== undefined) {
      problems.push('AUTH_PUBLIC_KEY and AUTH_JWKS_URL: set one, not both');
    }
    if (this.isProduction) {
      if (!this.usesAsymmetricTokens && this.AUTH_JWT_SECRET === undefined) {
        problems.push('AUTH_JWT_SECRET: required when NODE_ENV=production (or set AUTH_PUBLIC_KEY or AUTH_JWKS_URL)');
      }
      if (this.ADMIN_TOKEN === undefined) {
        problems.push('ADMIN_TOKEN: required when NODE_ENV=production');
      }
      if (this.PAGING_TOKEN_KEYS === undefined) {
        problems.push('PAGING_TOKEN_KEYS: required when NODE_ENV=production');
      }
      // Keys fetched over plain HTTP can be swapped on the way: anyone could then mint tokens.
      if (this.AUTH_JWKS_URL !== undefined && !this.AUTH_JWKS_URL.toLowerCase().startsWith('https://')) {
        problems.push('AUTH_JWKS_URL: must be an https:// URL when NODE_ENV=production');
      }
    } else {
      this.AUTH_JWT_SECRET ??= DEVELOPMENT_JWT_SECRET;
      this.ADMIN_TOKEN ??= DEVELOPMENT_ADMIN_TOKEN;
      this.PAGING_TOKEN_KEYS ??= DEVELOPMENT_PAGING_TOKEN_KEYS;
    }
    const kids = this.pagingTokenKeys.map((key) => key.kid);
    const repeated = kids.filter((kid, index) => kids.indexOf(kid) !== index);
    if (repeated.length > 0) {
      problems.push(`PAGING_TOKEN_KEYS: each kid may appear once (repeated: ${[...new Set(repeated)].join(', ')})`);
    }
    if (parseXuid(this.SYSTEM_SENDER_XUID) === null) problems.push(`SYSTEM_SENDER_XUID: must be ${XUID_RULE}`);
    if (!isPossibleGamertag(this.SYSTEM_SENDER_GAMERTAG)) problems.push(`SYSTEM_SENDER_GAMERTAG: must be ${GAMERTAG_RULE}`);
    problems.push(...quotaRpcKeysProblems(this));
    return problems;
  }
}
