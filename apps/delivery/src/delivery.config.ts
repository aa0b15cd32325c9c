import { IsString } from 'class-validator';
import { IsPositiveInt, IsTcpPort, SharedConfig } from '@app/shared/config';

export class DeliveryConfig extends SharedConfig {
  /** Health endpoints (/healthz, /readyz) over HTTP. */
  @IsTcpPort()
  DELIVERY_HTTP_PORT: number = 3003;

  @IsString()
  DELIVERY_HTTP_HOST: string = '0.0.0.0';

  /** Jobs one delivery process works on at once. */
  @IsPositiveInt(1000)
  DELIVERY_CONCURRENCY: number = 16;

  /** Accepted but undelivered messages older than this are enqueued again. */
  @IsPositiveInt()
  REDELIVER_AFTER_SECONDS: number = 30;

  @IsPositiveInt()
  MESSAGE_TTL_SECONDS: number = 2_592_000;

  /** How often expired messages, inbox entries and Idempotency-Key records are purged. */
  @IsPositiveInt()
  PURGE_INTERVAL_SECONDS: number = 60;
}
