import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { ContinuationTokenCodec, TOKEN_FORMAT_VERSION } from '../../apps/gateway/src/inbox/continuation-token';
import { DeliveredMessage, expectedItem, InboxFactory, inboxPath, newestFirst, request } from '../factories/inbox.factory';
import { bearer, uniqueXuid } from '../factories/users.factory';
import { RunningService, startGateway, startStack } from '../setup/services';

const CURRENT_KEY = { kid: 'cur', secret: 'current-paging-secret-for-the-e2e-suite-0001' };
const PREVIOUS_KEY = { kid: 'prev', secret: 'previous-paging-secret-for-the-e2e-suite-002' };
const RETIRED_KEY = { kid: 'gone', secret: 'retired-paging-secret-for-the-e2e-suite-0003' };
const keysSetting = (...keys: { kid: string; secret: string }[]): string =>
  keys.map((key) => `${key.kid}:${key.secret}`).join(',');

interface Page {
  results: { header: { id: string } & Record<string, unknown>; messageSummary: string }[];
  pagingInfo: { continuationToken: string | null; totalItems: number };
}

describe('Paging the inbox with continuation tokens', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let factory: InboxFactory;
  let url: string;
  // Signs with the key the main gateway keeps as "previous", then with one it never knew.
  let beforeRotation: RunningService;
  let retiredOnly: RunningService;

  beforeAll(async () => {
    [stack, factory] = await Promise.all([
      startStack({ gateway: { PAGING_TOKEN_KEYS: keysSetting(CURRENT_KEY, PREVIOUS_KEY) } }),
      InboxFactory.create(),
    ]);
    url = stack.gateway.url;
    [beforeRotation, retiredOnly] = await Promise.all([
      startGateway({ QUOTA_PORT: stack.quota.rpcPort, PAGING_TOKEN_KEYS: keysSetting(PREVIOUS_KEY) }),
      startGateway({ QUOTA_PORT: stack.quota.rpcPort, PAGING_TOKEN_KEYS: keysSetting(RETIRED_KEY) }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([beforeRotation?.close(), retiredOnly?.close()]);
    await stack?.close();
    await factory?.close();
  });

  async function page(owner: Xuid, query: string, baseUrl = url): Promise<{ status: number; body: Page }> {
    const response = await request(baseUrl, 'GET', inboxPath(owner, query), await bearer(owner));
    return { status: response.status, body: response.body };
  }

  const ids = (body: Page): string[] => body.results.map((item) => item.header.id);

  /** Follows tokens to the end; `between` runs after each page. */
  async function walk(owner: Xuid, maxItems: number, between?: (pagesSoFar: Page[]) => Promise<void>) {
    const pages: Page[] = [];
    let token: string | null = null;
    do {
      const query: string = token === null ? `?maxItems=${maxItems}` : `?maxItems=${maxItems}&continuationToken=${token}`;
      const { status, body } = await page(owner, query);
      expect(status).toBe(200);
      pages.push(body);
      token = body.pagingInfo.continuationToken;
      if (token !== null) {
        expect(token.length).toBeLessThanOrEqual(100);
        expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      }
      await between?.(pages);
    } while (token !== null);
    return pages;
  }

  describe('walking 230 messages', () => {
    const owner = uniqueXuid();
    let messages: DeliveredMessage[];

    beforeAll(async () => {
      const sender = await factory.sender();
      const base = Date.now() - 60_000;
      // Groups of three share one `sent` value so that ties fall on page boundaries too.
      messages = newestFirst(
        await factory.deliver(
          owner,
          Array.from({ length: 230 }, (_, i) => ({ sender, sent: new Date(base - Math.floor(i / 3)) })),
        ),
      );
    });

    it.each([[1], [7], [25], [100]])(
      'should return every message exactly once, in order, when the page size is %i',
      async (maxItems) => {
        const pages = await walk(owner, maxItems);

        expect(pages).toHaveLength(Math.ceil(230 / maxItems));
        expect(pages.flatMap(ids)).toEqual(messages.map((message) => message.id));
        expect(pages.flatMap((body) => body.results)).toEqual(messages.map((message) => expectedItem(message)));
        for (const body of pages.slice(0, -1)) {
          expect(body.results).toHaveLength(maxItems);
          expect(body.pagingInfo).toEqual({ continuationToken: expect.any(String), totalItems: 230 });
        }
        expect(pages[pages.length - 1].pagingInfo).toEqual({ continuationToken: null, totalItems: 230 });
      },
    );

    it('should continue after the skipped window when a skipItems page token is followed', async () => {
      const first = await page(owner, '?skipItems=100&maxItems=100');
      const rest = await page(owner, `?maxItems=100&continuationToken=${first.body.pagingInfo.continuationToken}`);

      expect([...ids(first.body), ...ids(rest.body)]).toEqual(messages.slice(100).map((message) => message.id));
      expect(rest.body.pagingInfo.continuationToken).toBeNull();
    });
  });

  it('should not show newer messages mid-walk when messages arrive during the enumeration', async () => {
    const owner = uniqueXuid();
    const original = newestFirst(
      await factory.deliver(
        owner,
        Array.from({ length: 40 }, () => ({})),
      ),
    );
    const arrivals: DeliveredMessage[] = [];

    const pages = await walk(owner, 7, async () => {
      arrivals.push(...(await factory.deliver(owner, [{ sent: new Date() }, { sent: new Date(Date.now() + 1000) }])));
    });

    expect(pages.flatMap(ids)).toEqual(original.map((message) => message.id));
    // The last page was read before the last arrivals.
    expect(pages[pages.length - 1].pagingInfo.totalItems).toBe(40 + arrivals.length - 2);
    const fresh = await page(owner, '?maxItems=2');
    expect(ids(fresh.body)).toEqual(
      newestFirst(arrivals)
        .slice(0, 2)
        .map((message) => message.id),
    );
  });

  it('should skip deleted messages without losing or repeating others when messages are deleted mid-walk', async () => {
    const owner = uniqueXuid();
    const original = newestFirst(
      await factory.deliver(
        owner,
        Array.from({ length: 50 }, () => ({})),
      ),
    );
    const deleted = new Set<string>();
    const deletedAfterShown = new Set<string>();
    const headers = await bearer(owner);

    const pages = await walk(owner, 7, async (pagesSoFar) => {
      const shown = new Set(pagesSoFar.flatMap(ids));
      // The cursor's own message (last shown), the next one due, and one further on.
      for (const index of [shown.size - 1, shown.size, shown.size + 10]) {
        const victim = original[index];
        if (!victim || deleted.has(victim.id)) continue;
        const response = await request(url, 'DELETE', inboxPath(owner, `/${victim.id}`), headers);
        expect(response.status).toBe(204);
        deleted.add(victim.id);
        if (shown.has(victim.id)) deletedAfterShown.add(victim.id);
      }
    });

    const survivors = original.filter((message) => !deleted.has(message.id)).map((message) => message.id);
    expect(deleted.size).toBeGreaterThan(10);
    expect(pages.flatMap(ids)).toEqual(
      original.filter((message) => !deleted.has(message.id) || deletedAfterShown.has(message.id)).map((message) => message.id),
    );
    const final = await page(owner, '?maxItems=100');
    expect(final.body.pagingInfo.totalItems).toBe(50 - deleted.size);
    expect(ids(final.body)).toEqual(survivors);
  });

  describe('tokens that cannot be used', () => {
    const owner = uniqueXuid();
    let token: string;

    beforeAll(async () => {
      await factory.deliver(
        owner,
        Array.from({ length: 5 }, () => ({})),
      );
      token = (await page(owner, '?maxItems=2')).body.pagingInfo.continuationToken as string;
    });

    const errorBody = ({ source, code, message }: { source: string; code: number; message: string }) => ({
      errorSource: source,
      errorCode: code,
      errorMessage: message,
    });
    const invalid = errorBody(ERRORS.CONTINUATION_TOKEN_INVALID);
    const retired = errorBody(ERRORS.CONTINUATION_TOKEN_EXPIRED);

    it('should answer 400 when a character of the token is changed', async () => {
      // Position 20 lies in the cursor, well clear of the version and kid.
      const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);

      const response = await page(owner, `?continuationToken=${flipped}`);

      expect(response.status).toBe(400);
      expect(response.body).toEqual(invalid);
    });

    it('should answer 400 when the token was issued for another inbox', async () => {
      const other = uniqueXuid();
      await factory.deliver(
        other,
        Array.from({ length: 3 }, () => ({})),
      );
      const foreign = (await page(other, '?maxItems=1')).body.pagingInfo.continuationToken as string;

      const response = await page(owner, `?continuationToken=${foreign}`);

      expect(response.status).toBe(400);
      expect(response.body).toEqual(invalid);
    });

    it('should answer 400 when the token is random bytes', async () => {
      const random = Buffer.from(Array.from({ length: 60 }, (_, i) => (i * 37 + 11) % 256)).toString('base64url');

      const response = await page(owner, `?continuationToken=${random}`);

      expect(response.status).toBe(400);
      expect(response.body).toEqual(invalid);
    });

    it('should continue the enumeration when the token was signed with a key that is still accepted', async () => {
      const oldToken = (await page(owner, '?maxItems=2', beforeRotation.url)).body.pagingInfo.continuationToken;

      const fromOld = await page(owner, `?maxItems=2&continuationToken=${oldToken}`);
      const fromCurrent = await page(owner, `?maxItems=2&continuationToken=${token}`);

      expect(fromOld.status).toBe(200);
      expect(fromOld.body).toEqual(fromCurrent.body);
    });

    it('should answer 409 when the token was signed with a retired key', async () => {
      const stale = (await page(owner, '?maxItems=2', retiredOnly.url)).body.pagingInfo.continuationToken;

      const response = await page(owner, `?continuationToken=${stale}`);

      expect(response.status).toBe(409);
      expect(response.body).toEqual(retired);
    });

    it('should answer 409 when a genuine token has an older format version', async () => {
      const codec = new ContinuationTokenCodec([CURRENT_KEY]);
      const first = await page(owner, '?maxItems=1');
      const cursorOf = first.body.results[0].header;
      const [row] = await factory.query<{ sent_us: string }>(
        `SELECT (extract(epoch FROM sent) * 1000000)::int8 AS sent_us FROM messages WHERE id = $1`,
        [cursorOf.id],
      );
      const cursor = { sentMicros: BigInt(row.sent_us), messageId: cursorOf.id };
      const current = codec.encode(owner, cursor);
      const older = codec.encode(owner, cursor, TOKEN_FORMAT_VERSION - 1);

      expect((await page(owner, `?continuationToken=${current}`)).status).toBe(200);
      const response = await page(owner, `?continuationToken=${older}`);

      expect(response.status).toBe(409);
      expect(response.body).toEqual(retired);
    });
  });
});
