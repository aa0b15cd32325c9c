import { createHmac } from 'node:crypto';
import { DEVELOPMENT_JWT_SECRET } from '@app/shared/tokens';
import { uniqueXuid, userToken } from '../factories/users.factory';
import { startStack } from '../setup/services';

const base64url = (value: object | string): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token built by hand, to send what no well-behaved library would sign. */
function handmadeToken(header: object, payload: object, secret: string | null): string {
  const unsigned = `${base64url(header)}.${base64url(payload)}`;
  const signature = secret === null ? '' : createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

const inFuture = () => Math.floor(Date.now() / 1000) + 600;

describe('user authentication on the contract routes', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.close();
  });

  const inbox = (xuid: string, headers: Record<string, string>, path = `xuid(${xuid})`) =>
    fetch(`${stack.gateway.url}/users/${path}/inbox`, { headers });

  async function expectError(response: Response, status: number, errorSource: string, errorCode: number) {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { errorMessage: string };
    expect(body).toEqual({ errorSource, errorCode, errorMessage: expect.any(String) });
    expect(body.errorMessage.length).toBeGreaterThan(10);
  }

  it('should accept a Bearer token for its own inbox', async () => {
    const xuid = uniqueXuid();
    const response = await inbox(xuid, { authorization: `Bearer ${await userToken(xuid)}` });
    expect(response.status).toBe(200);
  });

  it('should accept the XBL3.0 form, with the user hash ignored', async () => {
    const xuid = uniqueXuid();
    const token = await userToken(xuid);
    expect((await inbox(xuid, { authorization: `XBL3.0 x=1234567890;${token}` })).status).toBe(200);
    expect((await inbox(xuid, { authorization: `XBL3.0 x=;${token}` })).status).toBe(200);
  });

  it('should accept the percent-encoded path form and leading zeros', async () => {
    const xuid = uniqueXuid();
    const headers = { authorization: `Bearer ${await userToken(xuid)}` };
    expect((await inbox(xuid, headers, `xuid%28${xuid}%29`)).status).toBe(200);
    expect((await inbox(xuid, headers, `xuid(000${xuid})`)).status).toBe(200);
  });

  it('should answer 401 without an Authorization header', async () => {
    await expectError(await inbox(uniqueXuid(), {}), 401, 'auth', 2001);
  });

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'XBL3.0 token-without-hash', 'Token abc'])(
    'should answer 401 for the malformed header "%s"',
    async (authorization) => {
      await expectError(await inbox(uniqueXuid(), { authorization }), 401, 'auth', 2002);
    },
  );

  it('should answer 401 for a token with a bad signature', async () => {
    const xuid = uniqueXuid();
    const token = handmadeToken(
      { alg: 'HS256', typ: 'JWT' },
      { xid: xuid, exp: inFuture() },
      'some-other-secret-that-is-long-enough',
    );
    await expectError(await inbox(xuid, { authorization: `Bearer ${token}` }), 401, 'auth', 2003);
  });

  it('should answer 401 for an unsigned token (alg none)', async () => {
    const xuid = uniqueXuid();
    const token = handmadeToken({ alg: 'none', typ: 'JWT' }, { xid: xuid, exp: inFuture() }, null);
    await expectError(await inbox(xuid, { authorization: `Bearer ${token}` }), 401, 'auth', 2003);
  });

  it('should answer 401 for garbage in place of a token', async () => {
    await expectError(await inbox(uniqueXuid(), { authorization: 'Bearer not.a.jwt' }), 401, 'auth', 2003);
  });

  it('should answer 401 for an expired token', async () => {
    const xuid = uniqueXuid();
    const token = handmadeToken(
      { alg: 'HS256' },
      { xid: xuid, exp: Math.floor(Date.now() / 1000) - 60 },
      DEVELOPMENT_JWT_SECRET,
    );
    await expectError(await inbox(xuid, { authorization: `Bearer ${token}` }), 401, 'auth', 2004);
  });

  it('should answer 401 for a token without exp', async () => {
    const xuid = uniqueXuid();
    const token = handmadeToken({ alg: 'HS256' }, { xid: xuid }, DEVELOPMENT_JWT_SECRET);
    await expectError(await inbox(xuid, { authorization: `Bearer ${token}` }), 401, 'auth', 2005);
  });

  it('should answer 401 for a numeric xid claim, even one that looks right', async () => {
    const token = handmadeToken({ alg: 'HS256' }, { xid: 12345, exp: inFuture() }, DEVELOPMENT_JWT_SECRET);
    await expectError(await inbox('12345', { authorization: `Bearer ${token}` }), 401, 'auth', 2005);
  });

  it('should answer 403 when the token belongs to another user', async () => {
    const response = await inbox(uniqueXuid(), { authorization: `Bearer ${await userToken(uniqueXuid())}` });
    await expectError(response, 403, 'auth', 2101);
  });

  it("should answer 401 before 403 or 404: a bad token on someone else's or a broken path", async () => {
    await expectError(await inbox('abc', { authorization: 'Bearer x.y.z' }, 'xuid(abc)'), 401, 'auth', 2003);
  });

  it('should honour x-xbl-contract-version: absent or 1 accepted, anything else 400', async () => {
    const xuid = uniqueXuid();
    const authorization = `Bearer ${await userToken(xuid)}`;
    expect((await inbox(xuid, { authorization, 'x-xbl-contract-version': '1' })).status).toBe(200);
    for (const version of ['2', '0', 'abc']) {
      await expectError(await inbox(xuid, { authorization, 'x-xbl-contract-version': version }), 400, 'gateway', 1005);
    }
  });
});
