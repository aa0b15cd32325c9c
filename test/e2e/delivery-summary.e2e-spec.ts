import { Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS } from '@app/shared/contracts';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows } from '../factories/delivery.factory';
import { DeliveredMessage, expectedDetail, expectedItem, inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer, createUser, makeFriends, TestUser } from '../factories/users.factory';
import { deliveryQueue } from '../setup/redis-namespace';
import { RunningService, startDelivery, startStack } from '../setup/services';
import { testRedisPrefix } from '../setup/test-env';

const DAY_MS = 86_400_000;
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}'; // 👨‍👩‍👧‍👦: 4 emoji joined by 3 ZWJs, 7 code points

interface SummaryCase {
  label: string;
  text: string;
  /** What the listing must show, written out: never recomputed from the text. */
  summary: string;
  /** Stored directly and enqueued (the gateway sends only User messages without a subject). */
  stored?: { type: MessageType; subject: string | null };
}

// The cases of the removed unit spec (apps/delivery/src/message-summary.spec.ts)
// first, then the ones that tell code points from UTF-16 units, bytes and graphemes.
const CASES: SummaryCase[] = [
  { label: 'a short user message, whole', text: 'hello', summary: 'hello' },
  { label: 'exactly 20 characters, whole', text: 'x'.repeat(20), summary: 'x'.repeat(20) },
  { label: 'a longer ASCII message, cut at 20', text: 'abcdefghijklmnopqrstuvwxyz', summary: 'abcdefghijklmnopqrst' },
  { label: '25 waving hands, 20 of them', text: '👋'.repeat(25), summary: '👋'.repeat(20) },
  {
    label: "a system message's subject",
    text: 'long system text',
    summary: 'LIVE System',
    stored: { type: MessageType.System, subject: 'LIVE System' },
  },
  {
    label: 'a system message without a subject, its text',
    text: 'no subject here',
    summary: 'no subject here',
    stored: { type: MessageType.System, subject: null },
  },
  { label: '25 grinning faces, 20 of them', text: '😀'.repeat(25), summary: '😀'.repeat(20) },
  {
    label: 'a surrogate pair over UTF-16 units 20 and 21, kept whole',
    text: `${'a'.repeat(19)}😀bcd`,
    summary: `${'a'.repeat(19)}😀`,
  },
  {
    label: '13 code points in 25 UTF-16 units, whole',
    text: `a${'🎮'.repeat(12)}`,
    summary: `a${'🎮'.repeat(12)}`,
  },
  {
    label: 'astral CJK (Extension B), 20 of 24',
    text: '𠀋𡈽𡌛𡑮𡢽𠮟𡚴𡸴𣇄𣗄𣜿𣝣𣳾𤟱𥒎𥔎𥝱𥧄𥶡𦫿𦹀𧃴𧚄𨉷',
    summary: '𠀋𡈽𡌛𡑮𡢽𠮟𡚴𡸴𣇄𣗄𣜿𣝣𣳾𤟱𥒎𥔎𥝱𥧄𥶡𦫿',
  },
  {
    label: 'Japanese (three bytes a character), 20 of 27',
    text: '私はゲームが大好きです。毎晩友達と一緒に遊んでいます。',
    summary: '私はゲームが大好きです。毎晩友達と一緒に',
  },
  { label: 'precomposed accents (two bytes each), 20 of 25', text: 'ü'.repeat(25), summary: 'ü'.repeat(20) },
  {
    label: 'combining accents, counted as code points: 10 of 15 letters',
    text: 'e\u0301'.repeat(15),
    summary: 'e\u0301'.repeat(10),
  },
  {
    label: 'a combining accent at code point 21, cut off its letter',
    text: `${'a'.repeat(19)}e\u0301 and more`,
    summary: `${'a'.repeat(19)}e`,
  },
  {
    label: 'three ZWJ families (21 code points), cut after the last joiner but one',
    text: FAMILY.repeat(3),
    summary: `${FAMILY.repeat(2)}\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D`,
  },
  {
    label: '11 flags (22 regional indicators), the 11th split',
    text: '🇯🇵🇺🇸🇧🇷🇩🇪🇫🇷🇬🇧🇰🇷🇮🇳🇨🇦🇲🇽🇦🇺',
    summary: '🇯🇵🇺🇸🇧🇷🇩🇪🇫🇷🇬🇧🇰🇷🇮🇳🇨🇦🇲🇽',
  },
  {
    label: 'newlines, a CRLF and a tab, kept as they are',
    text: 'line one\nline two\r\n\tindented and more',
    summary: 'line one\nline two\r\n\t',
  },
  { label: 'leading and trailing spaces, untrimmed', text: '   padded   ', summary: '   padded   ' },
  { label: 'only whitespace, whole', text: ' \n\t ', summary: ' \n\t ' },
  {
    label: 'spaces at the cut, kept',
    text: `${'a'.repeat(18)}     tail`,
    summary: `${'a'.repeat(18)}  `,
  },
  {
    label: 'a system message with a subject and a long text, the subject',
    text: 'Scheduled maintenance starts at 02:00 UTC and lasts two hours.',
    summary: '🔧 Maintenance 🔧',
    stored: { type: MessageType.System, subject: '🔧 Maintenance 🔧' },
  },
  {
    label: 'a system message without a subject and a long text, its first 20',
    text: 'Scheduled maintenance starts at 02:00 UTC',
    summary: 'Scheduled maintenanc',
    stored: { type: MessageType.System, subject: null },
  },
  {
    label: 'a user message with a stored subject, its text',
    text: 'a user message that has a subject column set',
    summary: 'a user message that ',
    stored: { type: MessageType.User, subject: 'not shown' },
  },
];

const utf16Units = (text: string, count: number): string => text.slice(0, count);
const utf8Bytes = (text: string, count: number): string => Buffer.from(text).subarray(0, count).toString();

describe('delivery: the message summary a recipient sees', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;
  let rows: DeliveryRows;
  let queue: Queue;
  let url: string;
  let adminUrl: string;
  let sender: TestUser;
  let recipients: TestUser[];
  const delivered = new Map<SummaryCase, DeliveredMessage>();

  beforeAll(async () => {
    [stack, delivery, rows] = await Promise.all([startStack(), startDelivery(), DeliveryRows.open()]);
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
    queue = deliveryQueue(testRedisPrefix());
    sender = await createUser(adminUrl);
    // Each recipient sees the same summary: one accepts everyone, one only friends.
    recipients = [await createUser(adminUrl), await createUser(adminUrl, { communication: 'friends' })];
    await makeFriends(adminUrl, sender.xuid, recipients[1].xuid);
    const to = recipients.map((user) => user.xuid);
    const nextId = messageIdFactory();

    // One at a time, each found by its (unique) text.
    for (const c of CASES) {
      const id = c.stored ? await storeAndEnqueue(nextId(), c, to) : await sendThroughGateway(c.text, to);
      delivered.set(c, await describeStored(id, c));
    }
    await rows.waitDelivered([...delivered.values()].map((message) => message.id));
  });

  afterAll(async () => {
    await queue?.close();
    await delivery?.close();
    await stack?.close();
    await rows?.close();
  });

  async function sendThroughGateway(text: string, to: Xuid[]): Promise<string> {
    const response = await send(
      url,
      sender.xuid,
      to.map((xuid) => ({ xuid })),
      { text },
    );
    expect({ status: response.status, body: response.text }).toEqual({ status: 200, body: '' });
    const [stored] = await rows.query<{ id: string }>(`SELECT id FROM messages WHERE sender_xuid = $1 AND text = $2`, [
      sender.xuid,
      text,
    ]);
    return stored.id;
  }

  /** A message the gateway cannot send (a system message, a subject), stored and enqueued as the gateway would. */
  async function storeAndEnqueue(id: string, c: SummaryCase, to: Xuid[]): Promise<string> {
    const sent = sentOfMessageId(id);
    await rows.query(
      `INSERT INTO messages (id, sender_xuid, message_type, text, subject, recipients, sent, expiration)
       VALUES ($1, $2, $3, $4, $5, $6::numeric[], $7, $8)`,
      [id, sender.xuid, c.stored!.type, c.text, c.stored!.subject, to, new Date(sent), new Date(sent + 30 * DAY_MS)],
    );
    await queue.add(DELIVERY_JOBS.deliverMessage, { messageId: id }, { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: id });
    return id;
  }

  async function describeStored(id: string, c: SummaryCase): Promise<DeliveredMessage> {
    const [stored] = await rows.query<{ sent: Date; expiration: Date }>(`SELECT sent, expiration FROM messages WHERE id = $1`, [
      id,
    ]);
    return {
      id,
      recipient: recipients[0].xuid,
      text: c.text,
      summary: c.summary,
      type: c.stored?.type ?? MessageType.User,
      sender,
      isRead: false,
      sentMicros: BigInt(stored.sent.getTime()) * 1000n,
      sent: stored.sent.toISOString(),
      expiration: stored.expiration.toISOString(),
    };
  }

  async function listing(owner: TestUser) {
    return request(url, 'GET', inboxPath(owner.xuid, '?maxItems=100'), await bearer(owner.xuid));
  }

  it('should have cases that tell code points from UTF-16 units, bytes and graphemes', () => {
    const byLabel = (prefix: string) => CASES.find((c) => c.label.startsWith(prefix))!;
    for (const prefix of ['25 waving', '25 grinning', 'a surrogate pair', '13 code points', 'astral CJK', '11 flags']) {
      const c = byLabel(prefix);
      expect({ prefix, utf16: utf16Units(c.text, 20) === c.summary }).toEqual({ prefix, utf16: false });
    }
    for (const prefix of ['Japanese', 'precomposed', 'combining accents', '25 grinning']) {
      const c = byLabel(prefix);
      expect({ prefix, bytes: utf8Bytes(c.text, 20) === c.summary }).toEqual({ prefix, bytes: false });
    }
    // A surrogate pair cut by a UTF-16 slice: the case the removed spec guarded.
    expect(utf16Units(byLabel('a surrogate pair').text, 20).isWellFormed()).toBe(false);
    // Code points, not graphemes: the summary ends inside a grapheme.
    expect(byLabel('a combining accent').summary.endsWith('e')).toBe(true);
    expect(byLabel('three ZWJ').summary.endsWith('\u200D')).toBe(true);
  });

  it('should list every message to each recipient with exactly its summary, newest first', async () => {
    const newestFirst = [...delivered.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    for (const owner of recipients) {
      const response = await listing(owner);
      expect({ owner: owner.xuid, status: response.status, body: response.body }).toStrictEqual({
        owner: owner.xuid,
        status: 200,
        body: {
          results: newestFirst.map((message) => expectedItem(message)),
          pagingInfo: { continuationToken: null, totalItems: CASES.length },
        },
      });
    }
  });

  describe.each(CASES.map((c) => [c.label, c] as const))('%s', (_, c) => {
    it('should show each recipient exactly this summary in the listing', async () => {
      const message = delivered.get(c)!;
      for (const owner of recipients) {
        const item = (await listing(owner)).body.results.find(
          (result: { header: { id: string } }) => result.header.id === message.id,
        );
        // Unread still: this case's detail is fetched only after this test.
        expect(item).toStrictEqual(expectedItem(message, false));
        expect(item.messageSummary).toBe(c.summary);
        expect(item.messageSummary.isWellFormed()).toBe(true);
      }
    });

    it('should give each recipient the whole text in the message detail', async () => {
      const message = delivered.get(c)!;
      for (const owner of recipients) {
        const response = await request(url, 'GET', inboxPath(owner.xuid, `/${message.id}`), await bearer(owner.xuid));
        expect({ status: response.status, body: response.body }).toStrictEqual({ status: 200, body: expectedDetail(message) });
        expect(response.body.messageText).toBe(c.text);
      }
    });
  });
});
