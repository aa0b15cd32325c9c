import { IsInt, IsString, Max, Min } from 'class-validator';
import { IsPositiveInt, IsTcpPort, SharedConfig } from '@app/shared/config';

export class DeliveryConfig extends SharedConfig {
  /**
   * A delivery process uses at most three connections, whatever
   * DELIVERY_CONCURRENCY: two batches in flight and one maintenance job; fewer
   * would make them wait on each other.
   */
  @IsInt()
  @Min(3, { message: 'must be at least 3 for delivery (two batches in flight and one maintenance job)' })
  @Max(200)
  declare DATABASE_POOL_SIZE: number;

  /** Health endpoints (/healthz, /readyz) over HTTP. */
  @IsTcpPort()
  DELIVERY_HTTP_PORT: number = 3003;

  @IsString()
  DELIVERY_HTTP_HOST: string = '0.0.0.0';

  /**
   * Deliver-message jobs one delivery process holds at once. They are written
   * in batches (DELIVERY_BATCH_SIZE), so this bounds jobs, not connections:
   * at most two batches use the database at a time.
   */
  @IsPositiveInt(1000)
  DELIVERY_CONCURRENCY: number = 100;

  /** Most messages one delivery transaction writes. */
  @IsPositiveInt(1000)
  DELIVERY_BATCH_SIZE: number = 50;

  /**
   * Broadcast chunks one delivery process writes at once, each on its own
   * connection, beside the user deliveries (which keep their two): so
   * DATABASE_POOL_SIZE should be at least 3 + this.
   */
  @IsPositiveInt(32)
  BROADCAST_CONCURRENCY: number = 2;

  /**
   * While players' messages take longer than this from acceptance to their
   * inbox, broadcast chunks pause before they start (see BroadcastPacer); 0
   * lets broadcasts run flat out whatever players see.
   */
  @IsInt()
  @Min(0)
  @Max(60_000)
  BROADCAST_YIELD_LATENCY_MS: number = 0;

  /** Accepted but undelivered messages older than this are enqueued again. */
  @IsPositiveInt()
  REDELIVER_AFTER_SECONDS: number = 30;

  @IsPositiveInt()
  MESSAGE_TTL_SECONDS: number = 2_592_000;

  /** How often expired messages, inbox entries and Idempotency-Key records are purged. */
  @IsPositiveInt()
  PURGE_INTERVAL_SECONDS: number = 60;

  /**
   * Share of the time a purge with a backlog spends deleting: after each
   * batch it pauses for as long again as makes this share (30: a 50 ms batch,
   * then about 117 ms of pause), so draining a large backlog leaves Postgres
   * to sends, deliveries and reads. 100 never pauses.
   */
  @IsInt()
  @Min(1)
  @Max(100)
  PURGE_DUTY_PERCENT: number = 30;
}
