import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { InboxEvent, PublishedEntry } from '@app/shared/contracts';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { messageIdFactory } from '@app/shared/database/message-id';
import { EventIdCodec } from './event-id';
import { ReplayEntry } from './inbox-events.repository';
import { CloseReason, InboxStream, REPLAY_PAGE, StreamContext } from './inbox-stream';

const OWNER = '2533274790395904' as Xuid;
const nextId = messageIdFactory();
// Message n of a test is IDS[n]: real ids, since the listing shape reads the send time from them.
const IDS = Array.from({ length: 200 }, () => nextId());
const codec = new EventIdCodec([{ kid: 'k1', secret: 'a-test-secret-of-at-least-32-characters' }]);

/** A response that keeps what was written and how much the client has not taken. */
class FakeResponse extends EventEmitter {
  chunks: string[] = [];
  writableLength = 0;
  writableNeedDrain = false;
  destroyed = false;
  holdBytes = false;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    if (this.holdBytes) this.writableLength += Buffer.byteLength(chunk);
    return true;
  }
  end(): void {
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  /** The message ids of the `message` events written, in order. */
  messageIds(): string[] {
    return this.chunks
      .filter((chunk) => chunk.includes('event: message'))
      .map((chunk) => (JSON.parse(/data: (.*)\n/.exec(chunk)![1]) as { header: { id: string } }).header.id);
  }
}

const entry = (messageId: string): PublishedEntry => ({
  messageId,
  expirationMillis: '4102444800000',
  senderXuid: '2533274790395905',
  sender: 'Sender',
  messageType: MessageType.User,
  summary: 'hi',
});
const message = (sequence: number, id: string): InboxEvent => ({ kind: 'message', sequence, entry: entry(id) });
const stored = (sequence: number, id: string): ReplayEntry =>
  ({ ...entry(id), isRead: false, sequence: String(sequence) }) as ReplayEntry;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setUp(high: number, committed: ReplayEntry[], bufferBytes = 65_536) {
  const response = new FakeResponse();
  const closed: CloseReason[] = [];
  const replays: number[] = [];
  const context: StreamContext = {
    codec,
    bufferBytes,
    replay: (_owner, after, limit) => {
      replays.push(after);
      return Promise.resolve(committed.filter((row) => Number(row.sequence) > after).slice(0, limit));
    },
    sent: () => undefined,
    closed: (_stream, reason) => void closed.push(reason),
  };
  const stream = new InboxStream('s1', OWNER, response as unknown as ServerResponse, high, context);
  return { stream, response, closed, replays };
}

describe('InboxStream', () => {
  it('should send the next entry as published when it follows the last one sent', async () => {
    const { stream, response, replays } = setUp(4, []);
    stream.start();
    await flush();
    stream.deliver(message(5, IDS[5]));
    stream.deliver(message(6, IDS[6]));

    expect(response.messageIds()).toEqual([IDS[5], IDS[6]]);
    expect(replays).toEqual([4]);
    expect(codec.decode(OWNER, /id: (.*)\n/.exec(response.chunks.at(-1)!)![1])).toBe(6);
  });

  it('should fill a gap from Postgres in order when a later entry is published first, and skip the earlier one after', async () => {
    const { stream, response } = setUp(4, [stored(5, IDS[5]), stored(6, IDS[6])]);
    stream.start();
    await flush();

    stream.deliver(message(6, IDS[6]));
    await flush();
    stream.deliver(message(5, IDS[5]));

    expect(response.messageIds()).toEqual([IDS[5], IDS[6]]);
  });

  it('should replay a backlog longer than a page, page by page, without repeats', async () => {
    const backlog = Array.from({ length: REPLAY_PAGE * 2 + 3 }, (_, i) => stored(i + 1, IDS[i + 1]));
    const { stream, response, replays } = setUp(0, backlog);
    stream.start();
    for (let i = 0; i < 5; i++) await flush();

    expect(response.messageIds()).toEqual(backlog.map((row) => row.messageId));
    expect(replays).toEqual([0, REPLAY_PAGE, REPLAY_PAGE * 2]);
  });

  it('should drop a client that leaves more than the buffer limit unread', async () => {
    const { stream, response, closed } = setUp(0, [], 4096);
    response.holdBytes = true;
    stream.start();
    await flush();
    for (let i = 1; i <= 40 && !response.destroyed; i++) stream.deliver(message(i, IDS[i]));

    expect(response.destroyed).toBe(true);
    expect(closed).toEqual(['slow']);
    expect(stream.open).toBe(false);
  });

  it('should close with a closed event when superseded, and ignore other streams being superseded', () => {
    const { stream, response, closed } = setUp(0, []);
    stream.start();
    stream.deliver({ kind: 'superseded', streamIds: ['other'] });
    expect(stream.open).toBe(true);

    stream.deliver({ kind: 'superseded', streamIds: ['s1'] });

    expect(response.chunks.at(-1)).toBe('event: closed\ndata: {"reason":"superseded"}\n\n');
    expect(closed).toEqual(['superseded']);
  });
});

describe('EventIdCodec', () => {
  it('should open an id only for the inbox it was issued for', () => {
    const id = codec.encode(OWNER, 42);
    expect(codec.decode(OWNER, id)).toBe(42);
    expect(codec.decode('2533274790395905', id)).toBeNull();
  });

  it('should refuse an altered id, garbage, and an id signed with a key it no longer has', () => {
    const id = codec.encode(OWNER, 42);
    const altered = id.slice(0, 10) + (id[10] === 'A' ? 'B' : 'A') + id.slice(11);
    const rotated = new EventIdCodec([{ kid: 'k2', secret: 'another-test-secret-of-at-least-32-chars' }]);
    expect(codec.decode(OWNER, altered)).toBeNull();
    expect(codec.decode(OWNER, 'garbage')).toBeNull();
    expect(codec.decode(OWNER, '')).toBeNull();
    expect(rotated.decode(OWNER, id)).toBeNull();
  });
});
