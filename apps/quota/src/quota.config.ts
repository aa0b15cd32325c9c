import { IsString } from 'class-validator';
import {
  CrossFieldCheck,
  IsKeyList,
  IsPositiveInt,
  IsTcpPort,
  KeyListEntry,
  parseKeyList,
  SharedConfig,
} from '@app/shared/config';
import { quotaRpcKeysProblems } from '@app/shared/quota';

export class QuotaConfig extends SharedConfig implements CrossFieldCheck {
  /** Address the RPC (TCP) listener binds. */
  @IsString()
  QUOTA_LISTEN_HOST: string = '0.0.0.0';

  @IsTcpPort()
  QUOTA_PORT: number = 3001;

  /**
   * Keys a caller of the RPC must sign with, shared with the gateway:
   * comma-separated `kid:secret` pairs (kid 1..8 letters or digits, secret at
   * least 32 characters). Every one listed is accepted, so a key can be added
   * before the gateways sign with it and removed after.
   */
  @IsKeyList()
  QUOTA_RPC_KEYS?: string;

  /** Health endpoints (/healthz, /readyz) over HTTP. */
  @IsTcpPort()
  QUOTA_HTTP_PORT: number = 3002;

  @IsPositiveInt()
  LIMIT_MESSAGES_PER_DAY: number = 250;

  @IsPositiveInt()
  LIMIT_RECIPIENTS_PER_DAY: number = 2500;

  @IsPositiveInt()
  LIMIT_STRANGERS_PER_DAY: number = 200;

  @IsPositiveInt()
  LIMIT_STRANGERS_PER_MESSAGE: number = 20;

  /** Length of the rolling window, in seconds. */
  @IsPositiveInt()
  QUOTA_WINDOW_SECONDS: number = 86_400;

  /**
   * How long a reservation stays charged without being confirmed (its message
   * known stored) before it lapses and is given back: it bounds what a gateway
   * that dies mid-send leaves charged. Keep it above the longest a send can
   * take between its reserve and its commit.
   */
  @IsPositiveInt()
  QUOTA_PENDING_SECONDS: number = 60;

  get quotaRpcKeys(): KeyListEntry[] {
    return parseKeyList(this.QUOTA_RPC_KEYS);
  }

  /** QUOTA_RPC_KEYS has a development default only outside production. */
  crossFieldProblems(): string[] {
    return quotaRpcKeysProblems(this);
  }
}
