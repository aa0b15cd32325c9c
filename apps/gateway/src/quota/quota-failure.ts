import { types } from 'node:util';
import { TimeoutError } from 'rxjs';
import { QuotaCredentialsRefused } from '@app/shared/contracts';
import { AppError, ERRORS } from '@app/shared/errors';

/** Why one quota call failed. */
export interface QuotaFailure {
  /** The kind of failure, from a small set: the log is throttled per kind. */
  key: string;
  /** The log line: names quota's address and the cause. */
  line: string;
  /** The cause without the address, for /readyz (which the public may read). */
  reason: string;
}

/** A send (or ping) that quota did not answer: a 503, carrying why for readiness. */
export class QuotaUnavailableError extends AppError {
  constructor(readonly reason: string) {
    super(ERRORS.DEPENDENCY_UNAVAILABLE, 'The quota service is unavailable; retry later.', 1);
  }
}

/** The error reply of a quota handler that failed (libs/shared/src/http/error-response.filter.ts, RpcErrorReply). */
interface ErrorReply {
  errorCode: number | null;
  errorMessage: string;
}

const isRefusal = (error: unknown): error is QuotaCredentialsRefused =>
  (error as Partial<QuotaCredentialsRefused> | null)?.refused === 'credentials';

const isErrorReply = (error: unknown): error is ErrorReply =>
  typeof (error as Partial<ErrorReply> | null)?.errorMessage === 'string';

/** Names the cause of a failed quota call, from what the RPC client rejected with. */
export function describeQuotaFailure(error: unknown, address: string, timeoutMs: number): QuotaFailure {
  const failure = (key: string, reason: string, line = `quota at ${address} ${reason}`): QuotaFailure => ({
    key,
    line,
    reason,
  });
  if (error instanceof TimeoutError) return failure('timeout', `did not answer within ${timeoutMs} ms`);
  // A wrong QUOTA_RPC_KEYS on either side: no retry helps, an operator must act.
  if (isRefusal(error)) return failure(`refused:${error.reason}`, `refused the credentials: ${error.reason}`);
  if (isErrorReply(error)) {
    return failure(`error:${error.errorCode}`, `answered an error: ${error.errorMessage} (errorCode ${error.errorCode})`);
  }
  // The transport's own answer, e.g. "There is no matching message handler defined in the remote service."
  if (typeof error === 'string') return failure(`error:${error}`, `answered an error: ${error}`);
  // isNativeError also recognises errors made in another realm (Node's socket code under jest).
  if (error instanceof Error || types.isNativeError(error)) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string')
      return failure(`unreachable:${code}`, `unreachable: ${code}`, `quota unreachable at ${address}: ${code}`);
    // @nestjs/microservices fails the calls in flight with this when the socket closes.
    if (error.message === 'Connection closed') return failure('closed', 'closed the connection before answering');
    // Its message may carry anything: only the log line shows it.
    return failure(
      `failed:${error.name}`,
      `call failed: ${error.name}`,
      `quota call to ${address} failed: ${error.name}: ${error.message}`,
    );
  }
  return failure('failed', 'call failed with an unknown error');
}
