import { IsString } from 'class-validator';
import { IsPositiveInt, IsTcpPort, SharedConfig } from '@app/shared/config';

export class QuotaConfig extends SharedConfig {
  /** Address the RPC (TCP) listener binds. */
  @IsString()
  QUOTA_LISTEN_HOST: string = '0.0.0.0';

  @IsTcpPort()
  QUOTA_PORT: number = 3001;

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
}
