import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows } from '../factories/delivery.factory';
import { DeliveredMessage, expectedItem, inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { bearer, block, createUser, makeFriends, TestUser, uniqueGamertag } from '../factories/users.factory';
import { RunningService, startDelivery, startStack } from '../setup/services';

type Setting = 'everyone' | 'friends' | 'blocked';

interface PrivacyCase {
  setting: Setting;
  friend: boolean;
  blocksSender: boolean;
  receives: boolean;
}

// docs/api.md, Delivery and privacy, written out rather than recomputed: a recipient gets
// nothing when they block the sender, when their setting is "blocked", or when
// it is "friends" and the sender is not their friend.
const CASES: PrivacyCase[] = [
  { setting: 'everyone', friend: true, blocksSender: false, receives: true },
  { setting: 'everyone', friend: true, blocksSender: true, receives: false },
  { setting: 'everyone', friend: false, blocksSender: false, receives: true },
  { setting: 'everyone', friend: false, blocksSender: true, receives: false },
  { setting: 'friends', friend: true, blocksSender: false, receives: true },
  { setting: 'friends', friend: true, blocksSender: true, receives: false },
  { setting: 'friends', friend: false, blocksSender: false, receives: false },
  { setting: 'friends', friend: false, blocksSender: true, receives: false },
  { setting: 'blocked', friend: true, blocksSender: false, receives: false },
  { setting: 'blocked', friend: true, blocksSender: true, receives: false },
  { setting: 'blocked', friend: false, blocksSender: false, receives: false },
  { setting: 'blocked', friend: false, blocksSender: true, receives: false },
];

const describeCase = (c: PrivacyCase): string =>
  `${c.receives ? 'deliver' : 'deliver nothing'} when the setting is ${c.setting}, the sender is ${c.friend ? 'a friend' : 'not a friend'} ` +
  `and the recipient ${c.blocksSender ? 'blocked' : 'did not block'} the sender`;

const EMPTY_INBOX = { results: [], pagingInfo: { continuationToken: null, totalItems: 0 } };

describe('delivery: privacy and what the recipient sees', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;
  let rows: DeliveryRows;
  let url: string;
  let adminUrl: string;

  beforeAll(async () => {
    [stack, delivery, rows] = await Promise.all([startStack(), startDelivery(), DeliveryRows.open()]);
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
  });

  afterAll(async () => {
    await delivery?.close();
    await stack?.close();
    await rows?.close();
  });

  async function recipientFor(sender: TestUser, c: PrivacyCase): Promise<TestUser> {
    const recipient = await createUser(adminUrl, { communication: c.setting });
    if (c.friend) await makeFriends(adminUrl, sender.xuid, recipient.xuid);
    if (c.blocksSender) await block(adminUrl, recipient.xuid, sender.xuid);
    return recipient;
  }

  /** Sends, checks the sender saw 200 with an empty body, and waits until delivery marked the message done. */
  async function sendAndDeliver(sender: TestUser, recipients: Xuid[], text: string): Promise<DeliveredMessage> {
    const response = await send(
      url,
      sender.xuid,
      recipients.map((xuid) => ({ xuid })),
      { text },
    );
    expect({ status: response.status, body: response.text }).toEqual({ status: 200, body: '' });
    const [stored] = await rows.query<{ id: string; sent: Date; expiration: Date }>(
      `SELECT id, sent, expiration FROM messages WHERE sender_xuid = $1 AND text = $2`,
      [sender.xuid, text],
    );
    await rows.waitDelivered([stored.id]);
    return {
      id: stored.id,
      recipient: recipients[0],
      text,
      summary: Array.from(text).slice(0, 20).join(''),
      type: MessageType.User,
      sender,
      isRead: false,
      sentMicros: BigInt(stored.sent.getTime()) * 1000n,
      sent: stored.sent.toISOString(),
      expiration: stored.expiration.toISOString(),
    };
  }

  async function inboxOf(owner: Xuid): Promise<{ status: number; body: unknown }> {
    const response = await request(url, 'GET', inboxPath(owner), await bearer(owner));
    return { status: response.status, body: response.body };
  }

  describe('one message to twelve recipients, one per case', () => {
    let sender: TestUser;
    let recipients: TestUser[];
    let message: DeliveredMessage;

    beforeAll(async () => {
      sender = await createUser(adminUrl);
      recipients = [];
      for (const c of CASES) recipients.push(await recipientFor(sender, c));
      message = await sendAndDeliver(
        sender,
        recipients.map((user) => user.xuid),
        'to all twelve at once',
      );
    });

    it.each(CASES.map((c, index) => [describeCase(c), index] as const))('should %s', async (_, index) => {
      const inbox = await inboxOf(recipients[index].xuid);
      expect(inbox).toEqual({
        status: 200,
        body: CASES[index].receives
          ? { results: [expectedItem(message)], pagingInfo: { continuationToken: null, totalItems: 1 } }
          : EMPTY_INBOX,
      });
    });

    it('should store one entry per eligible recipient and count each once when one message goes to all twelve', async () => {
      const eligible = recipients.filter((_, index) => CASES[index].receives).map((user) => user.xuid);
      expect(eligible).toHaveLength(3);
      expect(await rows.recipientsOf(message.id)).toEqual([...eligible].sort(byNumber));
      const counters = await rows.counters(recipients.map((user) => user.xuid));
      expect(Object.fromEntries(counters)).toEqual(
        Object.fromEntries(recipients.map((user, index) => [user.xuid, CASES[index].receives ? 1 : null])),
      );
    });
  });

  describe('one message per case', () => {
    it.each(CASES.map((c) => [describeCase(c), c] as const))('should %s', async (_, c) => {
      const sender = await createUser(adminUrl);
      const recipient = await recipientFor(sender, c);

      const message = await sendAndDeliver(sender, [recipient.xuid], `one case, ${describeCase(c)}`);

      expect(await inboxOf(recipient.xuid)).toEqual({
        status: 200,
        body: c.receives
          ? { results: [expectedItem(message)], pagingInfo: { continuationToken: null, totalItems: 1 } }
          : EMPTY_INBOX,
      });
      expect(await rows.recipientsOf(message.id)).toEqual(c.receives ? [recipient.xuid] : []);
      expect(await rows.counters([recipient.xuid])).toEqual(new Map([[recipient.xuid, c.receives ? 1 : null]]));
    });
  });

  it('should deliver a message to its sender when they name themself as a recipient', async () => {
    const sender = await createUser(adminUrl);
    const other = await createUser(adminUrl);

    const message = await sendAndDeliver(sender, [sender.xuid, other.xuid], 'a note to myself');

    for (const owner of [sender.xuid, other.xuid]) {
      expect(await inboxOf(owner)).toEqual({
        status: 200,
        body: { results: [expectedItem(message)], pagingInfo: { continuationToken: null, totalItems: 1 } },
      });
    }
    expect(await rows.recipientsOf(message.id)).toEqual([sender.xuid, other.xuid].sort(byNumber));
  });

  it('should list the sender gamertag as registered, a 20-code-point summary and an exact total when three arrive', async () => {
    const sender = await createUser(adminUrl, { gamertag: `MiXeD${uniqueGamertag().slice(5)}` });
    const recipient = await createUser(adminUrl);
    const texts = [
      // The 20th code point is an emoji (two UTF-16 units): it is kept whole.
      `${'a'.repeat(19)}😀 and more after the summary`,
      '🎮'.repeat(30),
      'short one',
    ];
    const messages: DeliveredMessage[] = [];
    for (const text of texts) messages.push(await sendAndDeliver(sender, [recipient.xuid], text));

    expect(messages.map((m) => m.summary)).toEqual([`${'a'.repeat(19)}😀`, '🎮'.repeat(20), 'short one']);
    const inbox = await inboxOf(recipient.xuid);
    expect(inbox).toEqual({
      status: 200,
      body: {
        results: [...messages].reverse().map((m) => expectedItem(m)),
        pagingInfo: { continuationToken: null, totalItems: 3 },
      },
    });
    expect((inbox.body as { results: { header: { sender: string } }[] }).results[0].header.sender).toBe(sender.gamertag);
    expect(await rows.counters([recipient.xuid])).toEqual(new Map([[recipient.xuid, 3]]));
  });
});

function byNumber(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
