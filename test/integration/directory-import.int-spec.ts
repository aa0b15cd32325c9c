import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database/database.options';
import { DirectoryImportSummary, importDirectory } from '@app/shared/directory/directory-import';
import { Xuid } from '@app/shared/xuid';
import { uniqueGamertag, uniqueXuid } from '../factories/users.factory';
import { testDatabaseUrl } from '../setup/test-env';

const ROOT = resolve(__dirname, '../..');
// One below the maximum: test/e2e/admin.e2e-spec.ts owns 18446744073709551615 itself.
const XUID_MAX = '18446744073709551614' as Xuid;

const user = (xuid: string, gamertag: string, communication?: string): string =>
  JSON.stringify({ type: 'user', xuid, gamertag, communication });
const friendship = (xuid: string, friendXuid: string): string => JSON.stringify({ type: 'friendship', xuid, friendXuid });
const block = (xuid: string, blockedXuid: string): string => JSON.stringify({ type: 'block', xuid, blockedXuid });

function summaryOf(partial: Partial<DirectoryImportSummary>): DirectoryImportSummary {
  return {
    linesRead: 0,
    users: { created: 0, updated: 0, unchanged: 0 },
    friendships: { created: 0, alreadyPresent: 0 },
    blocks: { created: 0, alreadyPresent: 0 },
    rejections: [],
    ...partial,
  };
}

describe('directory import', () => {
  let db: DataSource;

  beforeAll(async () => {
    db = new DataSource({
      ...createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 4 }),
      logging: false,
    });
    await db.initialize();
  });

  afterAll(async () => {
    await db.destroy();
  });

  const runImport = (lines: string[], batchSize?: number): Promise<DirectoryImportSummary> =>
    importDirectory(db, lines, { batchSize });

  const usersOf = (xuids: string[]) =>
    db.query('SELECT xuid, gamertag, communication FROM users WHERE xuid = ANY($1::numeric[]) ORDER BY xuid', [xuids]);
  const friendshipsOf = (xuids: string[]) =>
    db.query(
      `SELECT user_xuid, friend_xuid FROM friendships
        WHERE user_xuid = ANY($1::numeric[]) OR friend_xuid = ANY($1::numeric[]) ORDER BY user_xuid, friend_xuid`,
      [xuids],
    );
  const blocksOf = (xuids: string[]) =>
    db.query(
      `SELECT owner_xuid, blocked_xuid FROM blocks
        WHERE owner_xuid = ANY($1::numeric[]) OR blocked_xuid = ANY($1::numeric[]) ORDER BY owner_xuid, blocked_xuid`,
      [xuids],
    );
  const byXuid = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

  it('should create users, mutual friendships and one-way blocks, then report all unchanged when re-run', async () => {
    await db.query('DELETE FROM users WHERE xuid = $1', [XUID_MAX]);
    const [a, b, c] = [uniqueXuid(), uniqueXuid(), uniqueXuid()];
    const [ga, gb, gc, gmax] = [uniqueGamertag('A'), uniqueGamertag('B'), uniqueGamertag('C'), uniqueGamertag('M')];
    const file = [
      // XUIDs as bare JSON numbers above 2^53, as digit strings, and with leading zeros.
      `{"type":"user","xuid":${a},"gamertag":"${ga}","communication":"friends","note":"ignored"}`,
      user(`000${b}`, gb),
      '',
      `{"type":"user","xuid":${XUID_MAX},"gamertag":"${gmax}","communication":"blocked"}`,
      user(c, gc, 'everyone'),
      `{"type":"friendship","xuid":${a},"friendXuid":"${b}"}`,
      friendship(XUID_MAX, c),
      `{"type":"block","xuid":"${c}","blockedXuid":${a}}`,
      block(b, XUID_MAX),
    ];

    expect(await runImport(file)).toEqual(
      summaryOf({
        linesRead: 9,
        users: { created: 4, updated: 0, unchanged: 0 },
        friendships: { created: 2, alreadyPresent: 0 },
        blocks: { created: 2, alreadyPresent: 0 },
      }),
    );
    const xuids = [a, b, c, XUID_MAX];
    expect(await usersOf(xuids)).toEqual(
      [
        { xuid: a, gamertag: ga, communication: 'friends' },
        { xuid: b, gamertag: gb, communication: 'everyone' },
        { xuid: c, gamertag: gc, communication: 'everyone' },
        { xuid: XUID_MAX, gamertag: gmax, communication: 'blocked' },
      ].sort((x, y) => byXuid(x.xuid, y.xuid)),
    );
    const stored = {
      friendships: [
        { user_xuid: a, friend_xuid: b },
        { user_xuid: b, friend_xuid: a },
        { user_xuid: c, friend_xuid: XUID_MAX },
        { user_xuid: XUID_MAX, friend_xuid: c },
      ].sort((x, y) => byXuid(x.user_xuid, y.user_xuid)),
      blocks: [
        { owner_xuid: b, blocked_xuid: XUID_MAX },
        { owner_xuid: c, blocked_xuid: a },
      ].sort((x, y) => byXuid(x.owner_xuid, y.owner_xuid)),
    };
    expect(await friendshipsOf(xuids)).toEqual(stored.friendships);
    expect(await blocksOf(xuids)).toEqual(stored.blocks);

    expect(await runImport(file)).toEqual(
      summaryOf({
        linesRead: 9,
        users: { created: 0, updated: 0, unchanged: 4 },
        friendships: { created: 0, alreadyPresent: 2 },
        blocks: { created: 0, alreadyPresent: 2 },
      }),
    );
    expect(await friendshipsOf(xuids)).toEqual(stored.friendships);
    expect(await blocksOf(xuids)).toEqual(stored.blocks);
    await db.query('DELETE FROM users WHERE xuid = $1', [XUID_MAX]);
  });

  it('should update gamertags and settings, keep an omitted setting, and count unchanged rows', async () => {
    const [kept, changed, renamed, recased, same, twice] = Array.from({ length: 6 }, () => uniqueXuid());
    const tags = Array.from({ length: 6 }, () => uniqueGamertag('Gt'));
    await runImport([
      user(kept, tags[0], 'friends'),
      user(changed, tags[1], 'friends'),
      user(renamed, tags[2], 'blocked'),
      user(recased, tags[3]),
      user(same, tags[4], 'friends'),
    ]);
    const [newTag, lastTag] = [uniqueGamertag('N'), uniqueGamertag('L')];

    const summary = await runImport([
      user(kept, tags[0]),
      user(changed, tags[1], 'everyone'),
      user(renamed, newTag),
      user(recased, tags[3].toUpperCase()),
      user(same, tags[4], 'friends'),
      user(twice, tags[5]),
      user(twice, lastTag, 'friends'),
    ]);

    expect(summary).toEqual(summaryOf({ linesRead: 7, users: { created: 1, updated: 4, unchanged: 2 } }));
    expect(await usersOf([kept, changed, renamed, recased, same, twice])).toEqual(
      [
        { xuid: kept, gamertag: tags[0], communication: 'friends' },
        { xuid: changed, gamertag: tags[1], communication: 'everyone' },
        { xuid: renamed, gamertag: newTag, communication: 'blocked' },
        { xuid: recased, gamertag: tags[3].toUpperCase(), communication: 'everyone' },
        { xuid: same, gamertag: tags[4], communication: 'friends' },
        { xuid: twice, gamertag: lastTag, communication: 'friends' },
      ].sort((x, y) => byXuid(x.xuid, y.xuid)),
    );
  });

  it('should reject every kind of bad line with its line number and reason, and apply the rest', async () => {
    const [holder, a, b, clashing, inFile, inFileClash, refused] = Array.from({ length: 7 }, () => uniqueXuid());
    const [unknown, unknown2] = [uniqueXuid(), uniqueXuid()];
    const holderTag = uniqueGamertag('Gt');
    const [ga, gb, gInFile, gRefused] = [uniqueGamertag('A'), uniqueGamertag('B'), uniqueGamertag('Gt'), 'Bad__Tag'];
    await runImport([user(holder, holderTag)]);

    const file = [
      '{"type":"user","xuid":"1"',
      '[1, 2]',
      '{"xuid":"1"}',
      '{"type":"group","xuid":"1"}',
      user('0', ga),
      `{"type":"user","xuid":0,"gamertag":"${ga}"}`,
      `{"type":"user","xuid":18446744073709551616,"gamertag":"${ga}"}`,
      user('-1', ga),
      `{"type":"user","xuid":1.5,"gamertag":"${ga}"}`,
      `{"type":"user","xuid":1e3,"gamertag":"${ga}"}`,
      `{"type":"user","gamertag":"${ga}"}`,
      user(refused, gRefused),
      JSON.stringify({ type: 'user', xuid: a, gamertag: 'SixteenCharsLong' }),
      JSON.stringify({ type: 'user', xuid: a }),
      `{"type":"user","xuid":"${a}","gamertag":12}`,
      user(a, ga, 'nobody'),
      `{"type":"user","xuid":"${a}","gamertag":"${ga}","communication":1}`,
      user(a, ga),
      user(b, gb, 'friends'),
      user(clashing, holderTag.toUpperCase()),
      user(inFile, gInFile),
      user(inFileClash, gInFile.toLowerCase()),
      friendship(a, `00${a}`),
      block(b, b),
      friendship(a, '0'),
      block(a, 'x'),
      JSON.stringify({ type: 'friendship', xuid: a }),
      friendship(a, unknown),
      block(unknown, b),
      friendship(unknown, unknown2),
      friendship(a, refused),
      friendship(a, b),
    ];

    const summary = await runImport(file, 4);

    const reason = (line: number, text: string) => ({ line, reason: text });
    expect(summary).toEqual(
      summaryOf({
        linesRead: 32,
        users: { created: 3, updated: 0, unchanged: 0 },
        friendships: { created: 1, alreadyPresent: 0 },
        rejections: [
          reason(1, "invalid JSON: Quoted object key or end of object '}' expected but reached end of input at position 25"),
          reason(2, 'expected a JSON object'),
          reason(3, 'missing "type"'),
          reason(4, 'unknown type "group" (expected "user", "friendship" or "block")'),
          reason(5, 'xuid "0" is not a valid XUID'),
          reason(6, 'xuid 0 is not a valid XUID'),
          reason(7, 'xuid 18446744073709551616 is not a valid XUID'),
          reason(8, 'xuid "-1" is not a valid XUID'),
          reason(9, 'xuid 1.5 is not a valid XUID'),
          reason(10, 'xuid 1e3 is not a valid XUID'),
          reason(11, 'missing "xuid"'),
          reason(12, 'gamertag "Bad__Tag" is not a possible gamertag'),
          reason(13, 'gamertag "SixteenCharsLong" is not a possible gamertag'),
          reason(14, 'missing "gamertag"'),
          reason(15, 'gamertag 12 is not a possible gamertag'),
          reason(16, 'communication "nobody" is not one of everyone, friends, blocked'),
          reason(17, 'communication 1 is not one of everyone, friends, blocked'),
          reason(20, `gamertag "${holderTag.toUpperCase()}" is held by another user (${holder})`),
          reason(22, `gamertag "${gInFile.toLowerCase()}" is held by another user (${inFile})`),
          reason(23, 'a user cannot be their own friend'),
          reason(24, 'a user cannot block themselves'),
          reason(25, 'friendXuid "0" is not a valid XUID'),
          reason(26, 'blockedXuid "x" is not a valid XUID'),
          reason(27, 'missing "friendXuid"'),
          reason(28, `user ${unknown} is not in the directory`),
          reason(29, `user ${unknown} is not in the directory`),
          reason(30, `users ${unknown} and ${unknown2} are not in the directory`),
          reason(31, `user ${refused} is not in the directory`),
        ],
      }),
    );
    expect(await usersOf([holder, a, b, clashing, inFile, inFileClash, refused])).toEqual(
      [
        { xuid: holder, gamertag: holderTag, communication: 'everyone' },
        { xuid: a, gamertag: ga, communication: 'everyone' },
        { xuid: b, gamertag: gb, communication: 'friends' },
        { xuid: inFile, gamertag: gInFile, communication: 'everyone' },
      ].sort((x, y) => byXuid(x.xuid, y.xuid)),
    );
    expect(await friendshipsOf([a, b, unknown, unknown2, refused])).toEqual(
      [
        { user_xuid: a, friend_xuid: b },
        { user_xuid: b, friend_xuid: a },
      ].sort((x, y) => byXuid(x.user_xuid, y.user_xuid)),
    );
    expect(await blocksOf([a, b, unknown])).toEqual([]);
  });

  it('should apply relationships that precede their users, and count repeated ones as already present', async () => {
    const [a, b, c] = [uniqueXuid(), uniqueXuid(), uniqueXuid()];
    const file = [
      friendship(a, b),
      block(a, c),
      friendship(b, a),
      block(c, a),
      block(a, c),
      friendship(c, a),
      user(a, uniqueGamertag('A')),
      user(b, uniqueGamertag('B')),
      user(c, uniqueGamertag('C')),
    ];

    expect(await runImport(file, 2)).toEqual(
      summaryOf({
        linesRead: 9,
        users: { created: 3, updated: 0, unchanged: 0 },
        friendships: { created: 2, alreadyPresent: 1 },
        blocks: { created: 2, alreadyPresent: 1 },
      }),
    );
    expect(await friendshipsOf([a, b, c])).toEqual(
      [
        { user_xuid: a, friend_xuid: b },
        { user_xuid: a, friend_xuid: c },
        { user_xuid: b, friend_xuid: a },
        { user_xuid: c, friend_xuid: a },
      ].sort((x, y) => byXuid(x.user_xuid, y.user_xuid) || byXuid(x.friend_xuid, y.friend_xuid)),
    );
    expect(await blocksOf([a, b, c])).toEqual(
      [
        { owner_xuid: a, blocked_xuid: c },
        { owner_xuid: c, blocked_xuid: a },
      ].sort((x, y) => byXuid(x.owner_xuid, y.owner_xuid)),
    );
  });

  it('should restore the missing direction of a half-stored friendship and count it as created', async () => {
    const [a, b] = [uniqueXuid(), uniqueXuid()];
    await runImport([user(a, uniqueGamertag('A')), user(b, uniqueGamertag('B'))]);
    await db.query('INSERT INTO friendships (user_xuid, friend_xuid) VALUES ($1, $2)', [a, b]);

    expect(await runImport([friendship(b, a)])).toEqual(
      summaryOf({ linesRead: 1, friendships: { created: 1, alreadyPresent: 0 } }),
    );
    expect(await friendshipsOf([a, b])).toEqual(
      [
        { user_xuid: a, friend_xuid: b },
        { user_xuid: b, friend_xuid: a },
      ].sort((x, y) => byXuid(x.user_xuid, y.user_xuid)),
    );
  });

  it('should let a gamertag pass to a new holder after a rename earlier in the file', async () => {
    const [first, second] = [uniqueXuid(), uniqueXuid()];
    const [tag, other] = [uniqueGamertag('Gt'), uniqueGamertag('O')];
    await runImport([user(first, tag)]);

    const file = [user(second, tag.toLowerCase()), user(first, other, 'friends'), user(second, tag.toLowerCase())];
    expect(await runImport(file)).toEqual(
      summaryOf({
        linesRead: 3,
        users: { created: 1, updated: 1, unchanged: 0 },
        rejections: [{ line: 1, reason: `gamertag "${tag.toLowerCase()}" is held by another user (${first})` }],
      }),
    );
    expect(await usersOf([first, second])).toEqual(
      [
        { xuid: first, gamertag: other, communication: 'friends' },
        { xuid: second, gamertag: tag.toLowerCase(), communication: 'everyone' },
      ].sort((x, y) => byXuid(x.xuid, y.xuid)),
    );
  });

  it('should hand a gamertag on within one batch when its holder is renamed on an earlier line', async () => {
    const [holder, taker] = [uniqueXuid(), uniqueXuid()];
    const [tag, other] = [uniqueGamertag('Gt'), uniqueGamertag('O')];
    await runImport([user(holder, tag, 'friends')]);

    expect(await runImport([user(holder, other), user(taker, tag.toUpperCase(), 'blocked')])).toEqual(
      summaryOf({ linesRead: 2, users: { created: 1, updated: 1, unchanged: 0 } }),
    );
    expect(await usersOf([holder, taker])).toEqual(
      [
        { xuid: holder, gamertag: other, communication: 'friends' },
        { xuid: taker, gamertag: tag.toUpperCase(), communication: 'blocked' },
      ].sort((x, y) => byXuid(x.xuid, y.xuid)),
    );
  });

  describe('command line', () => {
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'directory-import-'));
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    function runCli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((done, fail) => {
        const child = spawn(
          process.execPath,
          ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'scripts/directory-import.ts', ...args],
          { cwd: ROOT, env: { DATABASE_URL: testDatabaseUrl(), NODE_ENV: 'test' } },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('error', fail);
        child.on('close', (code) => done({ code, stdout, stderr }));
        child.stdin.end(stdin);
      });
    }

    it('should exit 2 and print the summary with the rejected line when one line is bad', async () => {
      const [a, b] = [uniqueXuid(), uniqueXuid()];
      const [ga, gb] = [uniqueGamertag('A'), uniqueGamertag('B')];
      const file = join(dir, 'one-bad-line.jsonl');
      await writeFile(file, [user(a, ga), friendship(a, b), user(b, gb, 'friends'), user(a, 'Bad__Tag'), ''].join('\r\n'));

      const result = await runCli([file]);

      expect(result).toEqual({ code: 2, stdout: expect.any(String), stderr: '' });
      expect(result.stdout.replace(/done in \d+\.\ds/, 'done in #s')).toBe(
        [
          'directory:import: done in #s',
          '  users: 2 created, 0 updated, 0 unchanged',
          '  friendships: 1 created, 0 already present',
          '  blocks: 0 created, 0 already present',
          '  rejected: 1 line',
          '    line 4: gamertag "Bad__Tag" is not a possible gamertag',
          '',
        ].join('\n'),
      );
      expect(await usersOf([a, b])).toEqual(
        [
          { xuid: a, gamertag: ga, communication: 'everyone' },
          { xuid: b, gamertag: gb, communication: 'friends' },
        ].sort((x, y) => byXuid(x.xuid, y.xuid)),
      );
    });

    it('should read standard input for "-", exit 0 when nothing is rejected, and list at most 20 reasons', async () => {
      const xuid = uniqueXuid();
      const clean = await runCli(['-'], `${user(xuid, uniqueGamertag('S'))}\n`);
      expect(clean.code).toBe(0);
      expect(clean.stdout).toContain('\n  users: 1 created, 0 updated, 0 unchanged\n  friendships: 0 created');
      expect(clean.stdout).toMatch(/\n {2}rejected: 0 lines\n$/);

      const noisy = await runCli(['-'], Array.from({ length: 23 }, () => 'not json').join('\n'));
      expect(noisy.code).toBe(2);
      const listed = noisy.stdout.split('\n').filter((line) => line.startsWith('    '));
      expect(listed).toHaveLength(21);
      expect(listed[0]).toBe("    line 1: invalid JSON: JSON value expected but got 'n' at position 0");
      expect(listed[19]).toMatch(/^ {4}line 20: /);
      expect(listed[20]).toBe('    ... and 3 more');
      expect(noisy.stdout).toContain('  rejected: 23 lines\n');
    });

    it('should exit 1 with a one-line message when the file is missing', async () => {
      const result = await runCli([join(dir, 'missing.jsonl')]);

      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^directory:import: .*ENOENT.*missing\.jsonl.*\n$/);
      expect(result.stderr.split('\n')).toHaveLength(2);
    });
  });
});
