import { QueryFailedError } from 'typeorm';
import { describeDependencyFailure, isDependencyFailure } from './dependency-failure';

const ENDPOINTS = [
  { name: 'Postgres', url: 'postgres://app:secret@127.0.0.1:5432/xblmsg' },
  { name: 'Redis', url: 'redis://redis:6379' },
];

const socketError = (code: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect', ...fields });

const queryFailure = (code: string, message: string) =>
  new QueryFailedError('INSERT INTO messages VALUES ($1)', ['private text'], Object.assign(new Error(message), { code }));

describe('describeDependencyFailure', () => {
  it('should name the endpoint a refused connection was for, with its address and the code', () => {
    const refused = socketError('ECONNREFUSED', { address: '127.0.0.1', port: 5432 });
    expect(describeDependencyFailure(refused, ENDPOINTS)).toBe('Postgres unreachable at 127.0.0.1:5432: ECONNREFUSED');
  });

  it('should match an endpoint named by host name on its port alone, as DNS chose the address', () => {
    const timedOut = socketError('ETIMEDOUT', { address: '10.1.2.3', port: 6379 });
    expect(describeDependencyFailure(timedOut, ENDPOINTS)).toBe('Redis unreachable at 10.1.2.3:6379: ETIMEDOUT');
  });

  it('should say "dependency" when no endpoint listens there, and give the code when there is no address', () => {
    expect(describeDependencyFailure(socketError('ECONNREFUSED', { address: '127.0.0.1', port: 9 }), ENDPOINTS)).toBe(
      'dependency unreachable at 127.0.0.1:9: ECONNREFUSED',
    );
    expect(describeDependencyFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(
      'connection failed: ECONNRESET',
    );
  });

  it('should name a Postgres refusal by its reason and SQLSTATE, never the statement or its values', () => {
    const timeout = queryFailure('57014', 'canceling statement due to statement timeout');
    expect(describeDependencyFailure(timeout)).toBe('Postgres statement timeout (57014)');
    expect(describeDependencyFailure(queryFailure('53300', 'sorry, too many clients already'))).toBe(
      'Postgres too many connections (53300)',
    );
    expect(describeDependencyFailure(queryFailure('08006', 'connection failure'))).toBe('Postgres connection failure (08006)');
  });

  it.each([
    ['Connection terminated unexpectedly', 'Postgres connection lost'],
    ['timeout exceeded when trying to connect', 'Postgres pool connect timed out'],
    ['Connection is closed.', 'Redis connection closed'],
    ["Stream isn't writeable and enableOfflineQueue options is false", 'Redis not connected'],
    ['Command timed out', 'Redis command timed out'],
  ])('should describe the driver error "%s" as "%s"', (message, described) => {
    const error = new Error(message);
    expect(isDependencyFailure(error)).toBe(true);
    expect(describeDependencyFailure(error)).toBe(described);
  });

  it('should keep a description of anything else to its first line', () => {
    const error = Object.assign(new Error('first line\nsecond line'), { name: 'TimeoutError' });
    expect(describeDependencyFailure(error)).toBe('TimeoutError: first line');
  });
});
