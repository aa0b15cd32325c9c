import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { parseKeyList } from '@app/shared/config';
import {
  QUOTA_PATTERNS,
  QuotaConfirmResult,
  QuotaPingResult,
  QuotaReleaseRequest,
  QuotaReleaseResult,
  QuotaReserveRequest,
  QuotaReserveResult,
  QuotaUsageResult,
} from '@app/shared/contracts';
import { DEVELOPMENT_QUOTA_RPC_KEYS, QuotaRpcSigner } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';

/**
 * The quota service as the gateway sees it: RPC over TCP, every call signed
 * with the first of `keys` (QUOTA_RPC_KEYS syntax; the development key that
 * services started by the tests use, unless told otherwise).
 */
export class QuotaRpc {
  private readonly client: ClientProxy;
  private readonly signer: QuotaRpcSigner;

  constructor(port: number, keys = DEVELOPMENT_QUOTA_RPC_KEYS) {
    this.client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    this.signer = new QuotaRpcSigner(parseKeyList(keys));
  }

  reserve(request: QuotaReserveRequest, timeoutMs = 5000): Promise<QuotaReserveResult> {
    return this.call(QUOTA_PATTERNS.reserve, request, timeoutMs);
  }

  release(request: QuotaReleaseRequest): Promise<QuotaReleaseResult> {
    return this.call(QUOTA_PATTERNS.release, request);
  }

  /** Confirms as delivery does: the message ids only. */
  confirm(...requests: QuotaReserveRequest[]): Promise<QuotaConfirmResult> {
    const messages = requests.map(({ senderXuid, messageId }) => ({ senderXuid, messageId }));
    return this.call(QUOTA_PATTERNS.confirm, { messages });
  }

  /** Confirms as the gateway does: each message with its reservation. */
  confirmReserved(...requests: QuotaReserveRequest[]): Promise<QuotaConfirmResult> {
    const messages = requests.map(({ senderXuid, messageId, recipients, strangers, sentAt }) => ({
      senderXuid,
      messageId,
      reserved: { recipients, strangers, sentAt },
    }));
    return this.call(QUOTA_PATTERNS.confirm, { messages });
  }

  usage(senderXuid: Xuid): Promise<QuotaUsageResult> {
    return this.call(QUOTA_PATTERNS.usage, { senderXuid, now: Date.now() });
  }

  ping(): Promise<QuotaPingResult> {
    return this.call(QUOTA_PATTERNS.ping, {});
  }

  /** Sends `data` exactly as given: no credential added (or a forged one, for tests of the refusals). */
  sendUnsigned<T>(pattern: string, data: unknown, timeoutMs = 5000): Promise<T> {
    return firstValueFrom(this.client.send<T>(pattern, data).pipe(timeout(timeoutMs)));
  }

  connect(): Promise<unknown> {
    return this.client.connect();
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private call<T>(pattern: string, payload: object, timeoutMs = 5000): Promise<T> {
    return this.sendUnsigned<T>(pattern, this.signer.sign(pattern, payload), timeoutMs);
  }
}
