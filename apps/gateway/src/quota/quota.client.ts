import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import {
  QUOTA_PATTERNS,
  QuotaConfirmation,
  QuotaConfirmRequest,
  QuotaConfirmResult,
  QuotaLimitsRequest,
  QuotaLimitsResult,
  QuotaPingResult,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
} from '@app/shared/contracts';
import { FailureLog } from '@app/shared/logging';
import { QuotaRpcSigner } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';
import { GatewayMetrics } from '../gateway.metrics';
import { describeQuotaFailure, QuotaUnavailableError } from './quota-failure';

export const QUOTA_RPC = 'QUOTA_RPC';

/**
 * Typed calls to the quota service, each signed with the first QUOTA_RPC_KEYS
 * key; any failure to answer in time, a refusal of the credential included,
 * is a 503 (fail closed), logged with its cause.
 */
@Injectable()
export class QuotaClient implements OnApplicationShutdown {
  private readonly logger = new Logger(QuotaClient.name);
  // Under an outage every send fails: one line per kind of failure, then a count every few seconds.
  private readonly failures = new FailureLog(this.logger);
  private readonly address: string;
  private readonly signer: QuotaRpcSigner;
  private confirmations: QuotaConfirmRequest['messages'] = [];
  private confirming?: Promise<unknown>;

  constructor(
    @Inject(QUOTA_RPC) private readonly client: ClientProxy,
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    this.address = `${config.QUOTA_HOST}:${config.QUOTA_PORT}`;
    this.signer = new QuotaRpcSigner(config.quotaRpcKeys);
  }

  /** Checks every limit and records the send, atomically. */
  reserve(request: QuotaReserveRequest): Promise<QuotaReserveResult> {
    return this.call(QUOTA_PATTERNS.reserve, request);
  }

  /** Gives a reservation back (idempotent). */
  release(request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    return this.call(QUOTA_PATTERNS.release, request);
  }

  /**
   * Confirms, soon and in the background, that a message is stored, so its
   * charge stands. The confirmations of one event-loop turn travel together.
   * Best effort: delivery confirms every message it delivers as well, so one
   * lost here is confirmed there. The reservation travels with it, so a
   * ledger that lost it (a Redis failover) charges the message all the same.
   */
  confirmSoon(senderXuid: Xuid, messageId: string, reserved: QuotaConfirmation['reserved']): void {
    if (this.confirmations.length === 0) setImmediate(() => this.flushConfirmations());
    this.confirmations.push({ senderXuid, messageId, reserved });
  }

  /** Each limit, what is used of it and when it next frees up (no charge). */
  limits(request: QuotaLimitsRequest): Promise<QuotaLimitsResult> {
    return this.call(QUOTA_PATTERNS.limits, request);
  }

  ping(): Promise<QuotaPingResult> {
    return this.call(QUOTA_PATTERNS.ping, {});
  }

  async onApplicationShutdown(): Promise<void> {
    await this.confirming;
    await this.client.close();
  }

  private flushConfirmations(): void {
    const messages = this.confirmations;
    this.confirmations = [];
    const confirming = this.call<QuotaConfirmResult>(QUOTA_PATTERNS.confirm, { messages }).catch(() =>
      this.logger.warn(`Could not confirm ${messages.length} stored message(s) to quota; delivery will`),
    );
    this.confirming = confirming;
  }

  private async call<T>(pattern: string, payload: object): Promise<T> {
    const timer = this.metrics.quotaWait.startTimer({ call: pattern.replace(/^quota\./, '') });
    try {
      const signed = this.signer.sign(pattern, payload);
      const result = await firstValueFrom(this.client.send<T>(pattern, signed).pipe(timeout(this.config.QUOTA_TIMEOUT_MS)));
      timer({ outcome: 'ok' });
      this.failures.succeeded('quota answers again');
      return result;
    } catch (error) {
      timer({ outcome: 'error' });
      const failure = describeQuotaFailure(error, this.address, this.config.QUOTA_TIMEOUT_MS);
      this.failures.failed(failure.line, failure.key);
      throw new QuotaUnavailableError(failure.reason);
    }
  }
}
