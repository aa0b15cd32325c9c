import { types } from 'node:util';
import { QueryFailedError } from 'typeorm';

// Node socket errors: the peer is down, unreachable or went away.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);
// Postgres SQLSTATEs meaning "cannot serve now": shutting down, too many connections, out of resources,
// a statement cancelled by statement_timeout (57014) or a lock not granted in time (55P03).
const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '53400', '53000', '53100', '53200', '57014', '55P03']);
const UNAVAILABLE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Connection is closed/i,
  /enableOfflineQueue/i,
  /Reached the max retries per request/i,
  /Timeout has occurred/i,
  /There is no established connection/i,
  /Cannot use a pool after calling end/i,
];

/**
 * Whether an error means a dependency (Postgres, Redis, the quota service) is
 * unavailable, as opposed to a bug: such failures answer 503 with Retry-After.
 */
export function isDependencyFailure(error: unknown): boolean {
  // isNativeError also recognises errors made in another realm (Node's socket code under jest).
  if (!(error instanceof Error) && !types.isNativeError(error)) return false;
  const driverError = error instanceof QueryFailedError ? (error.driverError as Error) : error;
  const code = (driverError as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code) || PG_UNAVAILABLE.has(code) || code.startsWith('08')) return true;
  }
  if (error.name === 'TimeoutError' || error.name === 'MaxRetriesPerRequestError') return true;
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(driverError.message ?? ''));
}
