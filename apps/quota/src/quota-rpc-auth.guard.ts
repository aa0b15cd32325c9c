import { CanActivate, ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { RpcException, TcpContext } from '@nestjs/microservices';
import { FailureLog } from '@app/shared/logging';
import { QuotaRpcVerifier } from '@app/shared/quota';
import { QuotaConfig } from './quota.config';
import { QuotaMetrics } from './quota.metrics';

/**
 * Every quota pattern runs only for a caller that signed it with a
 * QUOTA_RPC_KEYS key; any other call is refused before it reaches Redis,
 * with an error reply naming the cause (never a secret).
 */
@Injectable()
export class QuotaRpcAuthGuard implements CanActivate {
  private readonly logger = new Logger(QuotaRpcAuthGuard.name);
  private readonly verifier: QuotaRpcVerifier;
  // A misconfigured gateway has every call refused: a line per cause, then a count every few seconds.
  // Never reset by an accepted call: with one good and one bad gateway, that would log every refusal.
  private readonly refusals = new FailureLog(this.logger);

  constructor(
    config: QuotaConfig,
    private readonly metrics: QuotaMetrics,
  ) {
    this.verifier = new QuotaRpcVerifier(config.quotaRpcKeys);
  }

  canActivate(context: ExecutionContext): boolean {
    const rpc = context.switchToRpc();
    const tcp = rpc.getContext<TcpContext>();
    const pattern = tcp.getPattern();
    const verdict = this.verifier.verify(pattern, rpc.getData());
    if (verdict.accepted) return true;
    this.metrics.refused(verdict.refusal);
    const peer = tcp.getSocketRef().netSocket.remoteAddress ?? 'an unknown address';
    this.refusals.failed(`Refused a ${pattern} call from ${peer}: ${verdict.reply.reason}`, verdict.refusal);
    throw new RpcException(verdict.reply);
  }
}
