import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import {
  QUOTA_PATTERNS,
  QuotaPingResult,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
} from '@app/shared/contracts';
import { AppError, ERRORS } from '@app/shared/errors';
import { GatewayConfig } from '../gateway.config';

export const QUOTA_RPC = 'QUOTA_RPC';

/** Typed calls to the quota service; any failure to answer in time is a 503 (fail closed). */
@Injectable()
export class QuotaClient implements OnApplicationShutdown {
  constructor(
    @Inject(QUOTA_RPC) private readonly client: ClientProxy,
    private readonly config: GatewayConfig,
  ) {}

  /** Checks every limit and records the send, atomically. */
  reserve(request: QuotaReserveRequest): Promise<QuotaReserveResult> {
    return this.call(QUOTA_PATTERNS.reserve, request);
  }

  /** Gives a reservation back (idempotent). */
  release(request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    return this.call(QUOTA_PATTERNS.release, request);
  }

  ping(): Promise<QuotaPingResult> {
    return this.call(QUOTA_PATTERNS.ping, {});
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  private async call<T>(pattern: string, payload: object): Promise<T> {
    try {
      return await firstValueFrom(
        this.client.send<T>(pattern, payload).pipe(timeout(this.config.QUOTA_TIMEOUT_MS)),
      );
    } catch {
      throw new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'The quota service is unavailable; retry later.', 1);
    }
  }
}
