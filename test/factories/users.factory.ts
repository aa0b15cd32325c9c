import { randomBytes } from 'node:crypto';
import { DEVELOPMENT_ADMIN_TOKEN, DEVELOPMENT_JWT_SECRET, signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { parseXuid, Xuid, XUID_MAX } from '@app/shared/xuid';

/** A random XUID, usually above 2^53, so every test exercises exact 64-bit handling. */
export function uniqueXuid(): Xuid {
  const value = (randomBytes(8).readBigUInt64BE() % XUID_MAX) + 1n;
  return parseXuid(value.toString()) as Xuid;
}

/** A random possible gamertag (15 characters). */
export function uniqueGamertag(prefix = 'T'): string {
  return (prefix + randomBytes(12).toString('hex')).slice(0, 15);
}

export const ADMIN_HEADERS = { authorization: `Bearer ${DEVELOPMENT_ADMIN_TOKEN}` };

export function userToken(
  xuid: string,
  options: { gamertag?: string; tier?: SubscriptionTier; expiresInSeconds?: number } = {},
): Promise<string> {
  return signUserToken({
    xuid: xuid as Xuid,
    gamertag: options.gamertag,
    tier: options.tier ?? SubscriptionTier.Gold,
    expiresInSeconds: options.expiresInSeconds,
    secret: DEVELOPMENT_JWT_SECRET,
  });
}

export async function bearer(xuid: string, options?: Parameters<typeof userToken>[1]): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await userToken(xuid, options)}` };
}

export interface TestUser {
  xuid: Xuid;
  gamertag: string;
}

/** Creates a user through the admin API of a running gateway. */
export async function createUser(
  gatewayUrl: string,
  options: { xuid?: Xuid; gamertag?: string; communication?: 'everyone' | 'friends' | 'blocked' } = {},
): Promise<TestUser> {
  const xuid = options.xuid ?? uniqueXuid();
  const gamertag = options.gamertag ?? uniqueGamertag();
  const response = await fetch(`${gatewayUrl}/admin/users/${xuid}`, {
    method: 'PUT',
    headers: { ...ADMIN_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ gamertag, communication: options.communication }),
  });
  if (response.status !== 201) throw new Error(`createUser: ${response.status} ${await response.text()}`);
  return { xuid, gamertag };
}

export async function makeFriends(gatewayUrl: string, a: Xuid, b: Xuid): Promise<void> {
  const response = await fetch(`${gatewayUrl}/admin/users/${a}/friends/${b}`, { method: 'PUT', headers: ADMIN_HEADERS });
  if (response.status !== 204) throw new Error(`makeFriends: ${response.status}`);
}

export async function block(gatewayUrl: string, owner: Xuid, target: Xuid): Promise<void> {
  const response = await fetch(`${gatewayUrl}/admin/users/${owner}/blocks/${target}`, {
    method: 'PUT',
    headers: ADMIN_HEADERS,
  });
  if (response.status !== 204) throw new Error(`block: ${response.status}`);
}

/** Creates or updates a user with a fixed XUID (201 or 200), for XUIDs a test must name exactly. */
export async function putUser(gatewayUrl: string, xuid: Xuid, gamertag = uniqueGamertag()): Promise<TestUser> {
  const response = await fetch(`${gatewayUrl}/admin/users/${xuid}`, {
    method: 'PUT',
    headers: { ...ADMIN_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ gamertag }),
  });
  if (response.status !== 201 && response.status !== 200)
    throw new Error(`putUser: ${response.status} ${await response.text()}`);
  return { xuid, gamertag };
}

/** Creates `count` users, `concurrency` at a time. */
export async function createUsers(gatewayUrl: string, count: number, concurrency = 8): Promise<TestUser[]> {
  const users: TestUser[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const batch = Math.min(concurrency, count - start);
    users.push(...(await Promise.all(Array.from({ length: batch }, () => createUser(gatewayUrl)))));
  }
  return users;
}
