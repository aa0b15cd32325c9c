import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database';
import { ADMIN_HEADERS, createUser, uniqueGamertag, uniqueXuid } from '../factories/users.factory';
import { startStack } from '../setup/services';
import { testDatabaseUrl } from '../setup/test-env';

const JSON_HEADERS = { ...ADMIN_HEADERS, 'content-type': 'application/json' };
const GAMERTAG_RULE =
  'Invalid request: gamertag must be a string of 1 to 15 letters and digits, with single spaces only between them.';
const OBJECT_BODY =
  'Invalid request: the body must be a JSON object like {"gamertag":"GoTeamEmily","communication":"everyone"}.';

describe('admin API', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let db: DataSource;
  /** The internal listener, where the admin API lives. */
  let adminUrl: string;

  const put = (path: string, body?: unknown, headers: Record<string, string> = JSON_HEADERS) =>
    fetch(`${adminUrl}${path}`, { method: 'PUT', headers, body: body === undefined ? undefined : JSON.stringify(body) });

  async function expectError(response: Response, status: number, errorCode: number, errorMessage: string | RegExp) {
    expect(response.status).toBe(status);
    const body = await response.json();
    expect(body).toEqual({
      errorSource: 'admin',
      errorCode,
      errorMessage: typeof errorMessage === 'string' ? errorMessage : expect.stringMatching(errorMessage),
    });
  }

  beforeAll(async () => {
    stack = await startStack();
    adminUrl = stack.gateway.internalUrl;
    db = await new DataSource(createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 2 })).initialize();
  });

  afterAll(async () => {
    await db?.destroy();
    await stack?.close();
  });

  describe('PUT /admin/users/{xuid}', () => {
    it('should create a user with 201 and update it with 200, keeping the setting when omitted', async () => {
      const xuid = uniqueXuid();
      const gamertag = uniqueGamertag();
      const created = await put(`/admin/users/${xuid}`, { gamertag, communication: 'friends' });
      expect(created.status).toBe(201);
      expect(await created.json()).toEqual({ xuid, gamertag, communication: 'friends' });

      const renamed = uniqueGamertag();
      const updated = await put(`/admin/users/${xuid}`, { gamertag: renamed, ignored: true });
      expect(updated.status).toBe(200);
      expect(await updated.json()).toEqual({ xuid, gamertag: renamed, communication: 'friends' });

      expect(await db.query('SELECT xuid, gamertag, communication FROM users WHERE xuid = $1', [xuid])).toEqual([
        { xuid, gamertag: renamed, communication: 'friends' },
      ]);
    });

    it('should default the communication setting of a new user to everyone', async () => {
      const { xuid } = await createUser(adminUrl);
      const response = await fetch(`${adminUrl}/admin/users/${xuid}`, { headers: ADMIN_HEADERS });
      expect(((await response.json()) as { communication: string }).communication).toBe('everyone');
    });

    it('should store and read back XUID 18446744073709551615 exactly', async () => {
      const xuid = '18446744073709551615';
      await db.query('DELETE FROM users WHERE xuid = $1', [xuid]);
      const gamertag = uniqueGamertag();
      expect((await put(`/admin/users/${xuid}`, { gamertag })).status).toBe(201);

      const response = await fetch(`${adminUrl}/admin/users/xuid(${xuid})`, { headers: ADMIN_HEADERS });
      expect(await response.json()).toEqual({ xuid, gamertag, communication: 'everyone', friends: [], blocks: [] });
      const [row] = await db.query(
        `SELECT xuid::text AS xuid, xuid = 18446744073709551615 AS exact FROM users WHERE xuid = $1`,
        [xuid],
      );
      expect(row).toEqual({ xuid, exact: true });
    });

    it('should normalise leading zeros in the path XUID', async () => {
      const xuid = uniqueXuid();
      expect((await put(`/admin/users/000${xuid}`, { gamertag: uniqueGamertag() })).status).toBe(201);
      expect((await db.query('SELECT xuid FROM users WHERE xuid = $1', [xuid])).length).toBe(1);
    });

    it('should refuse a gamertag another user holds in any letter case with 409', async () => {
      const holder = await createUser(adminUrl, { gamertag: `Gt${uniqueGamertag().slice(2)}` });
      const xuid = uniqueXuid();
      for (const variant of [holder.gamertag, holder.gamertag.toUpperCase(), holder.gamertag.toLowerCase()]) {
        await expectError(
          await put(`/admin/users/${xuid}`, { gamertag: variant }),
          409,
          7002,
          `The gamertag "${variant}" belongs to another user; choose another.`,
        );
      }
      expect(await db.query('SELECT 1 FROM users WHERE xuid = $1', [xuid])).toEqual([]);
    });

    it('should let a user change the letter case of their own gamertag', async () => {
      const user = await createUser(adminUrl);
      const response = await put(`/admin/users/${user.xuid}`, { gamertag: user.gamertag.toUpperCase() });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { gamertag: string }).gamertag).toBe(user.gamertag.toUpperCase());
    });

    it.each([
      ['missing gamertag', {}, GAMERTAG_RULE],
      ['numeric gamertag', { gamertag: 12 }, GAMERTAG_RULE],
      ['16-character gamertag', { gamertag: 'a'.repeat(16) }, GAMERTAG_RULE],
      ['punctuation', { gamertag: 'bad_tag!' }, GAMERTAG_RULE],
      [
        'unknown communication',
        { gamertag: 'Fine', communication: 'nobody' },
        'Invalid request: communication must be one of: everyone, friends, blocked, or be left out.',
      ],
      ['array body', [1], OBJECT_BODY],
      ['string body', 'x', OBJECT_BODY],
    ])('should answer 400 for %s', async (_, body, message) => {
      await expectError(await put(`/admin/users/${uniqueXuid()}`, body), 400, 7001, message);
    });

    it.each(['0', '18446744073709551616', '-1', '1.5', '1e3', 'abc', 'xuid()'])(
      'should answer 400 for the path XUID %s',
      async (xuid) => {
        await expectError(
          await put(`/admin/users/${xuid}`, { gamertag: 'Fine' }),
          400,
          7004,
          `The XUID in the path segment "${xuid}" cannot be converted: use decimal digits for a value from 1 to ` +
            '18446744073709551615 (leading zeros are accepted), plain or as xuid(<digits>).',
        );
      },
    );

    it('should echo at most 40 characters of a bad path segment, with controls escaped', async () => {
      const rule =
        'cannot be converted: use decimal digits for a value from 1 to 18446744073709551615 (leading zeros are accepted), plain or as xuid(<digits>).';
      await expectError(
        await put(`/admin/users/${'7'.repeat(50)}`, { gamertag: 'Fine' }),
        400,
        7004,
        `The XUID in the path segment "${'7'.repeat(40)}..." ${rule}`,
      );
      await expectError(
        await put('/admin/users/12%0A34', { gamertag: 'Fine' }),
        400,
        7004,
        `The XUID in the path segment "12\\u000a34" ${rule}`,
      );
    });
  });

  describe('authentication', () => {
    it.each([
      ['no Authorization header', {}],
      ['a wrong token', { authorization: 'Bearer not-the-admin-token' }],
      ['a user token scheme', { authorization: 'XBL3.0 x=1;development-admin-token' }],
    ])('should answer 401 with %s', async (_, headers) => {
      const response = await fetch(`${adminUrl}/admin/users/${uniqueXuid()}`, { headers });
      await expectError(response, 401, 2201, 'A valid admin token is required: send "Authorization: Bearer <admin token>".');
    });
  });

  describe('friends and blocks', () => {
    it('should make friendships mutual, idempotent and removable', async () => {
      const a = await createUser(adminUrl);
      const b = await createUser(adminUrl);
      for (let i = 0; i < 2; i++)
        expect((await put(`/admin/users/${a.xuid}/friends/${b.xuid}`, undefined, ADMIN_HEADERS)).status).toBe(204);

      const rows = await db.query(
        'SELECT user_xuid, friend_xuid FROM friendships WHERE user_xuid = ANY($1::numeric[]) ORDER BY user_xuid = $2 DESC',
        [[a.xuid, b.xuid], a.xuid],
      );
      expect(rows).toEqual([
        { user_xuid: a.xuid, friend_xuid: b.xuid },
        { user_xuid: b.xuid, friend_xuid: a.xuid },
      ]);
      const detail = (await (await fetch(`${adminUrl}/admin/users/${b.xuid}`, { headers: ADMIN_HEADERS })).json()) as {
        friends: string[];
        blocks: string[];
      };
      expect(detail.friends).toEqual([a.xuid]);

      for (let i = 0; i < 2; i++) {
        const removed = await fetch(`${adminUrl}/admin/users/${b.xuid}/friends/${a.xuid}`, {
          method: 'DELETE',
          headers: ADMIN_HEADERS,
        });
        expect(removed.status).toBe(204);
      }
      expect(await db.query('SELECT 1 FROM friendships WHERE user_xuid = ANY($1::numeric[])', [[a.xuid, b.xuid]])).toEqual([]);
    });

    it('should store a block in one direction only', async () => {
      const owner = await createUser(adminUrl);
      const target = await createUser(adminUrl);
      expect((await put(`/admin/users/${owner.xuid}/blocks/${target.xuid}`, undefined, ADMIN_HEADERS)).status).toBe(204);
      expect(
        await db.query(
          'SELECT owner_xuid, blocked_xuid FROM blocks WHERE owner_xuid = ANY($1::numeric[]) OR blocked_xuid = ANY($1::numeric[])',
          [[owner.xuid, target.xuid]],
        ),
      ).toEqual([{ owner_xuid: owner.xuid, blocked_xuid: target.xuid }]);
      const detail = (await (await fetch(`${adminUrl}/admin/users/${owner.xuid}`, { headers: ADMIN_HEADERS })).json()) as {
        friends: string[];
        blocks: string[];
      };
      expect(detail.blocks).toEqual([target.xuid]);

      const removed = await fetch(`${adminUrl}/admin/users/${owner.xuid}/blocks/${target.xuid}`, {
        method: 'DELETE',
        headers: ADMIN_HEADERS,
      });
      expect(removed.status).toBe(204);
      expect(await db.query('SELECT 1 FROM blocks WHERE owner_xuid = $1', [owner.xuid])).toEqual([]);
    });

    it.each(['friends', 'blocks'])('should answer 404 naming which of the two %s users does not exist', async (kind) => {
      const known = await createUser(adminUrl);
      const unknown = uniqueXuid();
      const other = uniqueXuid();
      const refused = async (path: string) => put(`/admin/users/${path}`, undefined, ADMIN_HEADERS);

      await expectError(
        await refused(`${known.xuid}/${kind}/${unknown}`),
        404,
        7003,
        `No user has XUID ${unknown}, the second XUID in the path; create it with PUT /admin/users/${unknown} first.`,
      );
      await expectError(
        await refused(`${unknown}/${kind}/${known.xuid}`),
        404,
        7003,
        `No user has XUID ${unknown}, the first XUID in the path; create it with PUT /admin/users/${unknown} first.`,
      );
      await expectError(
        await refused(`${unknown}/${kind}/${other}`),
        404,
        7003,
        `No user has XUID ${unknown} (the first XUID in the path) or XUID ${other} (the second XUID in the path); ` +
          'create both with PUT /admin/users/{xuid} first.',
      );
    });

    it('should answer 404 naming the XUID when reading a user who does not exist', async () => {
      const unknown = uniqueXuid();
      await expectError(
        await fetch(`${adminUrl}/admin/users/${unknown}`, { headers: ADMIN_HEADERS }),
        404,
        7003,
        `No user has XUID ${unknown}; create it with PUT /admin/users/${unknown}.`,
      );
    });

    it('should answer 400 for a user befriending or blocking themself', async () => {
      const user = await createUser(adminUrl);
      await expectError(
        await put(`/admin/users/${user.xuid}/friends/${user.xuid}`, undefined, ADMIN_HEADERS),
        400,
        7001,
        'Invalid request: a user cannot befriend themself; name two different users.',
      );
      await expectError(
        await put(`/admin/users/${user.xuid}/blocks/${user.xuid}`, undefined, ADMIN_HEADERS),
        400,
        7001,
        'Invalid request: a user cannot block themself; name two different users.',
      );
    });
  });
});
