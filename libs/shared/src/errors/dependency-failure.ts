import { isIP } from 'node:net';
import { types } from 'node:util';
import { QueryFailedError } from 'typeorm';

// Node socket errors: the peer is down, unreachable or went away.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);
// Postgres SQLSTATEs meaning "cannot serve now": shutting down, too many connections, out of resources,
// a statement cancelled by statement_timeout (57014) or a lock not granted in time (55P03).
const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '53400', '53000', '53100', '53200', '57014', '55P03']);
const PG_REASONS: Record<string, string> = {
  '57014': 'statement timeout',
  '55P03': 'lock timeout',
  '57P01': 'shutting down',
  '57P02': 'crashed',
  '57P03': 'not accepting connections',
  '53300': 'too many connections',
};
// Messages of the drivers' own errors, each with what an operator should read instead.
const UNAVAILABLE_MESSAGES: [RegExp, string][] = [
  [/Connection terminated unexpectedly/i, 'Postgres connection lost'],
  [/Connection terminated due to connection timeout/i, 'Postgres connect timed out'],
  [/Connection terminated/i, 'Postgres connection closed'],
  [/timeout exceeded when trying to connect/i, 'Postgres pool connect timed out'],
  [/Cannot use a pool after calling end/i, 'Postgres pool closed'],
  [/Connection is closed/i, 'Redis connection closed'],
  [/enableOfflineQueue/i, 'Redis not connected'],
  [/Reached the max retries per request/i, 'Redis unreachable (max retries per request)'],
  [/^Command timed out/i, 'Redis command timed out'],
  [/Timeout has occurred/i, 'RPC timed out'],
  [/There is no established connection/i, 'RPC peer not connected'],
];
const DESCRIPTION_MAX = 200;

/** A service the process connects to, named for log lines: `{ name: 'Postgres', url: DATABASE_URL }`. */
export interface DependencyEndpoint {
  name: string;
  url: string;
}

const DEFAULT_PORTS: Record<string, number> = { 'postgres:': 5432, 'postgresql:': 5432, 'redis:': 6379, 'rediss:': 6379 };

function driverErrorOf(error: unknown): Error | null {
  // isNativeError also recognises errors made in another realm (Node's socket code under jest).
  if (!(error instanceof Error) && !types.isNativeError(error)) return null;
  return error instanceof QueryFailedError ? (error.driverError as Error) : error;
}

const codeOf = (error: Error): string | undefined => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
};

const isPostgresState = (code: string): boolean => PG_UNAVAILABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code);

/**
 * Whether an error means a dependency (Postgres, Redis, the quota service) is
 * unavailable, as opposed to a bug: such failures answer 503 with Retry-After.
 */
export function isDependencyFailure(error: unknown): boolean {
  const driverError = driverErrorOf(error);
  if (driverError === null) return false;
  const code = codeOf(driverError);
  if (code !== undefined && (SOCKET_CODES.has(code) || isPostgresState(code))) return true;
  if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'MaxRetriesPerRequestError') return true;
  return UNAVAILABLE_MESSAGES.some(([pattern]) => pattern.test(driverError.message ?? ''));
}

/**
 * One short line naming what failed and why, for the log of a dependency
 * failure: "Postgres unreachable at 127.0.0.1:5432: ECONNREFUSED",
 * "Postgres statement timeout (57014)", "Redis connection closed". A socket
 * error is named after the `endpoints` entry it was connecting to. Never
 * the statement, its values or a stack.
 */
export function describeDependencyFailure(error: unknown, endpoints: readonly DependencyEndpoint[] = []): string {
  const driverError = driverErrorOf(error);
  if (driverError === null) return 'unknown failure';
  const code = codeOf(driverError);
  if (code !== undefined && isPostgresState(code)) {
    const reason = PG_REASONS[code] ?? (code.startsWith('08') ? 'connection failure' : 'out of resources');
    return `Postgres ${reason} (${code})`;
  }
  if (code !== undefined && SOCKET_CODES.has(code)) {
    const { address, hostname, port } = driverError as { address?: unknown; hostname?: unknown; port?: unknown };
    const host = typeof address === 'string' ? address : typeof hostname === 'string' ? hostname : undefined;
    const at = typeof port === 'number' && host !== undefined ? `${host}:${port}` : host;
    const name = at === undefined ? undefined : endpointAt(endpoints, host!, port);
    return at === undefined ? `connection failed: ${code}` : `${name ?? 'dependency'} unreachable at ${at}: ${code}`;
  }
  const message = driverError.message ?? '';
  const known = UNAVAILABLE_MESSAGES.find(([pattern]) => pattern.test(message));
  if (known) return known[1];
  const firstLine = `${(error as Error).name}: ${message.split('\n', 1)[0]}`;
  return firstLine.length > DESCRIPTION_MAX ? `${firstLine.slice(0, DESCRIPTION_MAX)}…` : firstLine;
}

/** The endpoint listening on `port` at `host`; a named host matches any address, as DNS decides. */
function endpointAt(endpoints: readonly DependencyEndpoint[], host: string, port: unknown): string | undefined {
  const matches = endpoints.filter((endpoint) => {
    let url: URL;
    try {
      url = new URL(endpoint.url);
    } catch {
      return false;
    }
    const endpointPort = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
    const endpointHost = url.hostname.replace(/^\[|\]$/g, '');
    return endpointPort === port && (endpointHost === host || isIP(endpointHost) === 0);
  });
  return matches.length === 1 ? matches[0].name : undefined;
}
