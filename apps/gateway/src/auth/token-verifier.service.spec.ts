import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { types } from 'node:util';
import { createHmac, generateKeyPairSync, KeyObject } from 'node:crypto';
import { exportJWK, JWTPayload, SignJWT } from 'jose';
import { loadConfig } from '@app/shared/config';
import { AppError, ErrorDefinition, ERRORS, isDependencyFailure } from '@app/shared/errors';
import { GatewayConfig } from '../gateway.config';
import { TokenVerifier } from './token-verifier.service';

const SECRET = 'unit-test-hs256-secret-0123456789abcdef';
const XUID = '2533274790412952';
const XUID_MAX = '18446744073709551615';
const ISSUER = 'https://login.example.test';
const AUDIENCE = 'msg.example.test';

const now = (): number => Math.floor(Date.now() / 1000);

function verifierWith(settings: Record<string, string> = {}): TokenVerifier {
  return new TokenVerifier(loadConfig(GatewayConfig, { NODE_ENV: 'test', ...settings }));
}

interface SignOptions {
  alg?: string;
  kid?: string;
  exp?: number | null;
}

/** Signs `claims`; `exp` defaults to an hour from now, `null` leaves it out. */
async function sign(claims: JWTPayload, key: Uint8Array | KeyObject, options: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256', kid: options.kid }).setIssuedAt();
  const exp = options.exp === undefined ? now() + 3600 : options.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const hmacKey = (secret: string): Uint8Array => new TextEncoder().encode(secret);
const signHs256 = (claims: JWTPayload, options?: SignOptions): Promise<string> => sign(claims, hmacKey(SECRET), options);

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the token to be refused');
}

async function expectRefused(promise: Promise<unknown>, definition: ErrorDefinition): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).definition).toBe(definition);
}

describe('TokenVerifier with an HS256 secret', () => {
  const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET });

  it('should return the identity when the token is valid', async () => {
    const token = await signHs256({ xid: XUID, gtg: 'Striker', tier: 'gold' });

    await expect(verifier.verify(token)).resolves.toEqual({ xuid: XUID, gamertag: 'Striker', tier: 'gold' });
  });

  it('should normalise the XUID when xid has leading zeros', async () => {
    const token = await signHs256({ xid: `000${XUID}` });

    await expect(verifier.verify(token)).resolves.toEqual({ xuid: XUID, gamertag: null, tier: null });
  });

  it('should keep the XUID exactly when xid is 2^64 - 1', async () => {
    const token = await signHs256({ xid: XUID_MAX });

    expect((await verifier.verify(token)).xuid).toBe(XUID_MAX);
  });

  it.each([
    ['gold', 'gold'],
    ['silver', 'silver'],
    ['platinum', null],
    ['Gold', null],
    [1, null],
  ])('should give tier %p as %p when the token carries it', async (tier, expected) => {
    const token = await signHs256({ xid: XUID, tier });

    expect((await verifier.verify(token)).tier).toBe(expected);
  });

  it('should give tier null when the token has no tier', async () => {
    expect((await verifier.verify(await signHs256({ xid: XUID }))).tier).toBeNull();
  });

  it.each([['Go  Team'], [''], ['A'.repeat(16)], ['Bad_Name'], [42]])(
    'should give gamertag null when gtg is %p',
    async (gtg) => {
      const token = await signHs256({ xid: XUID, gtg });

      expect((await verifier.verify(token)).gamertag).toBeNull();
    },
  );

  it('should refuse with TOKEN_INVALID when the token is signed with another secret', async () => {
    const token = await sign({ xid: XUID }, hmacKey('another-secret-of-sufficient-length-42'));

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when the token is unsigned (alg none)', async () => {
    const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ xid: XUID, exp: now() + 3600 })}.`;

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when the payload was altered after signing', async () => {
    const [header, , signature] = (await signHs256({ xid: XUID, tier: 'silver' })).split('.');
    const forged = `${header}.${base64url({ xid: XUID, tier: 'gold', exp: now() + 3600 })}.${signature}`;

    await expectRefused(verifier.verify(forged), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_EXPIRED when the token has expired', async () => {
    const token = await signHs256({ xid: XUID }, { exp: now() - 60 });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_EXPIRED);
  });

  it('should refuse with TOKEN_CLAIMS_INVALID when the token has no exp', async () => {
    const token = await signHs256({ xid: XUID }, { exp: null });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
  });

  it.each([
    ['a JSON number', 2533274790412952],
    ['missing', undefined],
    ['"0"', '0'],
    ['"abc"', 'abc'],
    ['"-1"', '-1'],
    ['"1e3"', '1e3'],
    ['above 2^64 - 1', '18446744073709551616'],
    ['an empty string', ''],
    ['an array', [XUID]],
  ])('should refuse with TOKEN_CLAIMS_INVALID when xid is %s', async (_label, xid) => {
    const token = await signHs256(xid === undefined ? {} : { xid });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
  });

  it('should refuse with TOKEN_CLAIMS_INVALID when xid is a bare number above 2^53 in the payload', async () => {
    // Signed by hand so the number is written exactly as a client would send it.
    const payload = Buffer.from(`{"xid":9007199254740993,"exp":${now() + 3600}}`).toString('base64url');
    const head = `${base64url({ alg: 'HS256' })}.${payload}`;
    const token = `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
    expect(((await rejectionOf(verifier.verify(token))) as Error).message).toBe(
      'The token claim "xid" must be a JSON string of decimal digits for a value from 1 to 18446744073709551615 ' +
        '(leading zeros are accepted); a JSON number is refused.',
    );
  });

  it.each([[''], ['garbage'], ['a.b.c'], ['..'], ['eyJhbGciOiJIUzI1NiJ9..'], ['Bearer x.y.z']])(
    'should refuse with TOKEN_INVALID when the token is %p',
    async (token) => {
      await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
    },
  );

  it('should refuse with TOKEN_INVALID when an RS256 token meets an HS256 secret', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await sign({ xid: XUID }, privateKey, { alg: 'RS256' });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });
});

describe('TokenVerifier with AUTH_PUBLIC_KEY', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('should return the identity when an RS256 token is signed by the key', async () => {
    const token = await sign({ xid: XUID, tier: 'gold' }, rsa.privateKey, { alg: 'RS256' });

    await expect(verifierWith({ AUTH_PUBLIC_KEY: rsaPem }).verify(token)).resolves.toEqual({
      xuid: XUID,
      gamertag: null,
      tier: 'gold',
    });
  });

  it('should return the identity when an ES256 token is signed by a P-256 key', async () => {
    const token = await sign({ xid: XUID, gtg: 'Go Team Emily' }, ec.privateKey, { alg: 'ES256' });

    await expect(verifierWith({ AUTH_PUBLIC_KEY: ecPem }).verify(token)).resolves.toEqual({
      xuid: XUID,
      gamertag: 'Go Team Emily',
      tier: null,
    });
  });

  it('should refuse with TOKEN_INVALID when the token is signed by another RSA key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await sign({ xid: XUID }, other.privateKey, { alg: 'RS256' });

    await expectRefused(verifierWith({ AUTH_PUBLIC_KEY: rsaPem }).verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when an HS256 token is "signed" with the public key text (algorithm confusion)', async () => {
    const token = await sign({ xid: XUID, tier: 'gold' }, hmacKey(rsaPem), { alg: 'HS256' });

    await expectRefused(verifierWith({ AUTH_PUBLIC_KEY: rsaPem }).verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when the token is unsigned (alg none)', async () => {
    const token = `${base64url({ alg: 'none' })}.${base64url({ xid: XUID, exp: now() + 3600 })}.`;

    await expectRefused(verifierWith({ AUTH_PUBLIC_KEY: rsaPem }).verify(token), ERRORS.TOKEN_INVALID);
  });
});

describe('TokenVerifier with AUTH_ISSUER and AUTH_AUDIENCE', () => {
  const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE });

  it('should return the identity when iss and aud match', async () => {
    const token = await signHs256({ xid: XUID, iss: ISSUER, aud: AUDIENCE });

    expect((await verifier.verify(token)).xuid).toBe(XUID);
  });

  it('should accept the token when aud is a list that includes the audience', async () => {
    const token = await signHs256({ xid: XUID, iss: ISSUER, aud: ['other', AUDIENCE] });

    expect((await verifier.verify(token)).xuid).toBe(XUID);
  });

  it.each([
    ['iss is missing', { aud: AUDIENCE }],
    ['iss is wrong', { iss: 'https://evil.example.test', aud: AUDIENCE }],
    ['aud is missing', { iss: ISSUER }],
    ['aud is wrong', { iss: ISSUER, aud: 'someone-else' }],
  ])('should refuse with TOKEN_CLAIMS_INVALID when %s', async (_label, claims) => {
    const token = await signHs256({ xid: XUID, ...claims });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
  });

  it('should name the claim and what is wrong with it in the message', async () => {
    const missing = await rejectionOf(verifier.verify(await signHs256({ xid: XUID, aud: AUDIENCE })));
    const wrong = await rejectionOf(verifier.verify(await signHs256({ xid: XUID, iss: ISSUER, aud: 'someone-else' })));

    expect([(missing as Error).message, (wrong as Error).message]).toEqual([
      'The token claim "iss" is missing; it is required.',
      'The token claim "aud" is not acceptable (unexpected "aud" claim value).',
    ]);
  });
});

describe('TokenVerifier with AUTH_JWKS_URL', () => {
  const KID = 'key-1';
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const servers: Server[] = [];

  /** Serves `respond` on 127.0.0.1 at a free port and returns the JWKS URL. */
  async function serve(respond: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(respond);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  }

  async function serveJwks(): Promise<string> {
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
    return serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
  }

  async function closedUrl(): Promise<string> {
    const url = await serve(() => undefined);
    const server = servers.pop() as Server;
    await new Promise((resolve) => server.close(resolve));
    return url;
  }

  afterAll(async () => {
    await Promise.all(
      servers.map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
  });

  it('should return the identity when the token kid matches a key of the set', async () => {
    const verifier = verifierWith({ AUTH_JWKS_URL: await serveJwks() });
    const token = await sign({ xid: XUID, tier: 'silver' }, signing.privateKey, { alg: 'RS256', kid: KID });

    await expect(verifier.verify(token)).resolves.toEqual({ xuid: XUID, gamertag: null, tier: 'silver' });
  });

  it('should refuse with TOKEN_INVALID when the token is signed by another key under the same kid', async () => {
    const verifier = verifierWith({ AUTH_JWKS_URL: await serveJwks() });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await sign({ xid: XUID }, other.privateKey, { alg: 'RS256', kid: KID });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when the token kid is not in the set', async () => {
    const verifier = verifierWith({ AUTH_JWKS_URL: await serveJwks() });
    const token = await sign({ xid: XUID }, signing.privateKey, { alg: 'RS256', kid: 'unknown' });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });

  it('should refuse with TOKEN_INVALID when an HS256 token meets a JWKS', async () => {
    const verifier = verifierWith({ AUTH_JWKS_URL: await serveJwks() });
    const token = await sign({ xid: XUID }, hmacKey(SECRET), { alg: 'HS256', kid: KID });

    await expectRefused(verifier.verify(token), ERRORS.TOKEN_INVALID);
  });

  // A key server that cannot be reached says nothing about the token: 503, not 401.
  it('should fail as a dependency failure when the JWKS server is down', async () => {
    const verifier = verifierWith({ AUTH_JWKS_URL: await closedUrl() });
    const token = await sign({ xid: XUID }, signing.privateKey, { alg: 'RS256', kid: 'unknown' });

    const error = await rejectionOf(verifier.verify(token));

    expectDependencyFailure(error);
  });

  it('should fail as a dependency failure when the JWKS server answers 503', async () => {
    const url = await serve((_request, response) => response.writeHead(503).end('unavailable'));
    const token = await sign({ xid: XUID }, signing.privateKey, { alg: 'RS256', kid: KID });

    const error = await rejectionOf(verifierWith({ AUTH_JWKS_URL: url }).verify(token));

    expectDependencyFailure(error);
  });

  it('should fail with DEPENDENCY_UNAVAILABLE when the JWKS server does not answer in time', async () => {
    const url = await serve(() => undefined);
    const token = await sign({ xid: XUID }, signing.privateKey, { alg: 'RS256', kid: KID });

    await expectRefused(verifierWith({ AUTH_JWKS_URL: url }).verify(token), ERRORS.DEPENDENCY_UNAVAILABLE);
  }, 10_000);
});

/** Either the 503 AppError, or an error the error filter will map to 503. */
function expectDependencyFailure(error: unknown): void {
  if (error instanceof AppError) {
    expect(error.definition).toBe(ERRORS.DEPENDENCY_UNAVAILABLE);
    return;
  }
  // Errors raised inside Node's core (a refused socket) come from another realm
  // than jest's, so `instanceof Error` is false here though true in production
  // (jestjs/jest#2549): judge a same-realm copy instead.
  expect(types.isNativeError(error)).toBe(true);
  const { name, message, code } = error as Error & { code?: string };
  expect(isDependencyFailure(Object.assign(new Error(message), { name, code }))).toBe(true);
}

describe('TokenVerifier remembering verified tokens', () => {
  // The clock moves for this process and for jose alike (jose reads new Date()).
  const setClock = (millis: number): void => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    jest.setSystemTime(millis);
  };
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('should answer a token it verified without verifying it again, and refuse it as expired from its exp on', async () => {
    const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET });
    const exp = now() + 30;
    const token = await signHs256({ xid: XUID, tier: 'gold' }, { exp });
    const identity = { xuid: XUID, gamertag: null, tier: 'gold' };
    expect(await verifier.verify(token)).toEqual(identity);

    const verifySignature = jest.spyOn(
      verifier as unknown as { verifySignature(token: string): Promise<JWTPayload> },
      'verifySignature',
    );
    expect(await verifier.verify(token)).toEqual(identity);
    expect(verifySignature).not.toHaveBeenCalled();

    setClock(exp * 1000);
    await expectRefused(verifier.verify(token), ERRORS.TOKEN_EXPIRED);
    expect(verifySignature).toHaveBeenCalledTimes(1);
  });

  it('should verify a remembered token again after a minute, so a withdrawn key stops working', async () => {
    const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET });
    const token = await signHs256({ xid: XUID, tier: 'gold' }, { exp: now() + 3600 });
    await verifier.verify(token);
    const verifySignature = jest.spyOn(
      verifier as unknown as { verifySignature(token: string): Promise<JWTPayload> },
      'verifySignature',
    );
    setClock(Date.now() + 60_000);
    expect((await verifier.verify(token)).xuid).toBe(XUID);
    expect(verifySignature).toHaveBeenCalledTimes(1);
  });

  it('should not remember a token before its nbf', async () => {
    const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET });
    const token = await signHs256({ xid: XUID, tier: 'gold', nbf: now() + 120 });
    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
    await expectRefused(verifier.verify(token), ERRORS.TOKEN_CLAIMS_INVALID);
  });

  it('should never answer for a token whose bytes differ, however alike', async () => {
    const verifier = verifierWith({ AUTH_JWT_SECRET: SECRET });
    const token = await signHs256({ xid: XUID, tier: 'gold' });
    await verifier.verify(token);
    const [header, payload, signature] = token.split('.');
    const forged = `${header}.${base64url({ xid: XUID_MAX, tier: 'gold', exp: now() + 3600 })}.${signature}`;
    expect(payload).not.toBe(forged.split('.')[1]);
    await expectRefused(verifier.verify(forged), ERRORS.TOKEN_INVALID);
  });
});
