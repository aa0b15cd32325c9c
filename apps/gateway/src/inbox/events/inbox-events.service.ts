import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { InboxEvent, inboxEventChannel, InboxFanOut, inboxFanOutChannel } from '@app/shared/contracts';
import { AppError, ERRORS } from '@app/shared/errors';
import { InjectMetrics } from '@app/shared/metrics';
import { duplicateClient, InjectRedis, RedisClient } from '@app/shared/redis';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../../gateway.config';
import { EventIdCodec } from './event-id';
import { InboxEventsRepository } from './inbox-events.repository';
import { CloseReason, InboxStream, StreamContext } from './inbox-stream';

/**
 * Registers a new stream of a player and answers the streams it displaces:
 * KEYS[1] the player's sorted set of open streams (score: opening time in µs,
 * from the Redis clock, so every gateway orders them alike); ARGV[1] the new
 * stream's id, ARGV[2] how many streams a player may have open, ARGV[3] the
 * set's lifetime in ms (refreshed on every open; entries of a gateway that
 * died are the oldest, so they are the first to go). Returns the ids removed,
 * oldest first.
 */
const OPEN_SCRIPT = `
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(now[1]) * 1000000 + tonumber(now[2]), ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
local removed = {}
if over > 0 then
  removed = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return removed
`;

type StreamsRedis = RedisClient & { openInboxStream(keys: number, ...args: (string | number)[]): Promise<string[]> };

const STREAM_SET_TTL_MS = 86_400_000;

interface Channel {
  streams: Set<InboxStream>;
  subscribed: Promise<unknown>;
}

/**
 * The gateway's side of the inbox events (docs/api.md, Inbox events): the
 * open streams, one Redis subscriber connection carrying one channel per
 * player streaming from this gateway and the fan-out channel of broadcast
 * chunks, the per-player stream limit, the heartbeat, and the publisher of
 * read and delete events.
 */
@Injectable()
export class InboxEvents implements BeforeApplicationShutdown {
  private readonly logger = new Logger(InboxEvents.name);
  private readonly redis: StreamsRedis;
  private readonly subscriber: RedisClient;
  private readonly channels = new Map<string, Channel>();
  private readonly fanOutChannel: string;
  private fanOutSubscribed: Promise<unknown> | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly context: StreamContext;
  private readonly openGauge: Gauge;
  private readonly eventsSent: Counter<'kind'>;
  private readonly streamsClosed: Counter<'reason'>;
  private shuttingDown = false;
  private tick = 0;
  private everReady = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly repository: InboxEventsRepository,
    private readonly codec: EventIdCodec,
    @InjectRedis() redis: RedisClient,
    @InjectMetrics() registry: Registry,
  ) {
    if (!('openInboxStream' in redis)) redis.defineCommand('openInboxStream', { lua: OPEN_SCRIPT });
    this.redis = redis as StreamsRedis;
    // Subscriber mode takes a connection of its own. It fails fast like the
    // shared client, so a stream cannot open without its live events (503).
    this.subscriber = duplicateClient(redis, { enableOfflineQueue: false, lazyConnect: true });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    // After a reconnect the channels are subscribed again, but what was published meanwhile is lost: catch up.
    this.fanOutChannel = inboxFanOutChannel(config.REDIS_PREFIX);
    this.subscriber.on('ready', () => {
      void this.subscribeFanOut().catch(() => undefined);
      if (this.everReady) for (const channel of this.channels.values()) for (const stream of channel.streams) stream.catchUp();
      this.everReady = true;
    });
    void this.subscriber.connect().catch(() => undefined);

    this.openGauge = new Gauge({
      name: 'gateway_inbox_streams_open',
      help: 'Inbox event streams open on this gateway',
      registers: [registry],
      collect: () => this.openGauge.set(this.openStreams),
    });
    this.eventsSent = new Counter({
      name: 'gateway_inbox_events_sent_total',
      help: 'Inbox events written to streams, by kind (message, read, unread, deleted)',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.streamsClosed = new Counter({
      name: 'gateway_inbox_streams_closed_total',
      help: 'Inbox event streams ended, by reason (client, superseded, shutdown, slow: dropped past its buffer, error)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.context = {
      codec,
      bufferBytes: config.INBOX_STREAM_BUFFER_BYTES,
      replay: (owner, after, limit) => this.repository.replay(owner, after, limit),
      sent: (kind) => this.eventsSent.inc({ kind }),
      closed: (stream, reason) => this.closed(stream, reason),
    };
    // Every second, the streams whose turn it is: 10,000 writes at once would stall every other request.
    this.heartbeat = setInterval(() => this.beat(), 1000).unref();
  }

  get openStreams(): number {
    let open = 0;
    for (const channel of this.channels.values()) open += channel.streams.size;
    return open;
  }

  /** The sequence a `Last-Event-ID` names; 400 (6020) unless it is an id of this inbox's stream. */
  parseLastEventId(owner: Xuid, id: string): number {
    const sequence = this.codec.decode(owner, id);
    if (sequence === null) throw new AppError(ERRORS.EVENT_ID_INVALID);
    return sequence;
  }

  /**
   * Prepares a stream of `owner`'s inbox from `after` (or from now): its
   * channel subscribed and the starting point read, before anything is
   * written, so a failure is still an ordinary error response. Then `start`
   * hands over the raw response.
   */
  async prepare(owner: Xuid, after: number | undefined): Promise<(response: ServerResponse) => InboxStream> {
    if (this.shuttingDown) throw new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'This gateway is shutting down; connect again.');
    const name = inboxEventChannel(this.config.REDIS_PREFIX, owner);
    let channel = this.channels.get(name);
    if (!channel) {
      channel = { streams: new Set(), subscribed: this.subscriber.subscribe(name) };
      this.channels.set(name, channel);
    }
    const joined = channel;
    try {
      await Promise.all([joined.subscribed, this.subscribeFanOut()]);
    } catch {
      if (joined.streams.size === 0 && this.channels.get(name) === joined) this.channels.delete(name);
      throw new AppError(
        ERRORS.DEPENDENCY_UNAVAILABLE,
        'Redis is unavailable, so live inbox events cannot be relayed; retry later.',
      );
    }
    // Subscribed first, then the position read: whatever commits after the read is published to us.
    const start = after ?? (await this.repository.position(owner).catch((error: unknown) => this.abandon(name, error)));
    const id = randomBytes(9).toString('base64url');
    const displaced = await this.redis
      .openInboxStream(1, this.streamSetKey(owner), id, this.config.INBOX_STREAMS_PER_USER, STREAM_SET_TTL_MS)
      .catch((error: unknown) => this.abandon(name, error));
    if (displaced.length > 0) {
      const event: InboxEvent = { kind: 'superseded', streamIds: displaced };
      void this.redis.publish(name, JSON.stringify(event)).catch(() => undefined);
    }
    return (response) => {
      const slot = Math.floor(Math.random() * this.config.INBOX_STREAM_HEARTBEAT_SECONDS);
      const stream = new InboxStream(id, owner, response, start, this.context, slot);
      joined.streams.add(stream);
      if (this.channels.get(name) !== joined) this.channels.set(name, joined);
      stream.start();
      return stream;
    };
  }

  /** After marking messages read, once the change committed (only those that were unread). */
  publishRead(owner: Xuid, messageIds: readonly string[]): void {
    this.publish(owner, { kind: 'read', messageIds: [...messageIds] });
  }

  /** After marking messages unread, once the change committed (only those that were read). */
  publishUnread(owner: Xuid, messageIds: readonly string[]): void {
    this.publish(owner, { kind: 'unread', messageIds: [...messageIds] });
  }

  /** After deleting messages, once the change committed (only those that were there). */
  publishDeleted(owner: Xuid, messageIds: readonly string[]): void {
    this.publish(owner, { kind: 'deleted', messageIds: [...messageIds] });
  }

  /** Ends every stream with a `closed` event, so clients reconnect to another replica and the server can close. */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
    clearInterval(this.heartbeat);
    const streams = [...this.channels.values()].flatMap((channel) => [...channel.streams]);
    for (const stream of streams) stream.close('shutdown');
    this.subscriber.disconnect();
  }

  private publish(owner: Xuid, event: InboxEvent): void {
    if (event.kind !== 'superseded' && 'messageIds' in event && event.messageIds.length === 0) return;
    const channel = inboxEventChannel(this.config.REDIS_PREFIX, owner);
    // A lost read or delete event only leaves another device's view stale until it lists the inbox.
    void this.redis.publish(channel, JSON.stringify(event)).catch((error: Error) => {
      this.logger.warn(`Inbox ${event.kind} event not published (${error.message})`);
    });
  }

  /**
   * The fan-out channel, subscribed once (ioredis subscribes it again after a
   * reconnect); a stream waits for it, as for its own channel, before it reads
   * its starting point.
   */
  private subscribeFanOut(): Promise<unknown> {
    this.fanOutSubscribed ??= this.subscriber.subscribe(this.fanOutChannel).catch((error: unknown) => {
      this.fanOutSubscribed = undefined;
      throw error;
    });
    return this.fanOutSubscribed;
  }

  /** A broadcast chunk: each recipient streaming from this gateway gets its entry; the others are not here. */
  private dispatchFanOut(message: string): void {
    let fanOut: InboxFanOut;
    try {
      fanOut = JSON.parse(message) as InboxFanOut;
    } catch {
      return;
    }
    const { entry, recipients, sequences } = fanOut;
    for (let i = 0; i < recipients.length; i++) {
      const channel = this.channels.get(inboxEventChannel(this.config.REDIS_PREFIX, recipients[i]));
      if (!channel) continue;
      const event: InboxEvent = { kind: 'message', sequence: sequences[i], entry };
      for (const stream of channel.streams) stream.deliver(event);
    }
  }

  private dispatch(name: string, message: string): void {
    if (name === this.fanOutChannel) return this.dispatchFanOut(message);
    const channel = this.channels.get(name);
    if (!channel) return;
    let event: InboxEvent;
    try {
      event = JSON.parse(message) as InboxEvent;
    } catch {
      return;
    }
    for (const stream of channel.streams) stream.deliver(event);
  }

  private closed(stream: InboxStream, reason: CloseReason): void {
    this.streamsClosed.inc({ reason });
    const name = inboxEventChannel(this.config.REDIS_PREFIX, stream.owner);
    const channel = this.channels.get(name);
    if (channel?.streams.delete(stream) && channel.streams.size === 0) {
      this.channels.delete(name);
      if (!this.shuttingDown) void this.subscriber.unsubscribe(name).catch(() => undefined);
    }
    if (reason !== 'superseded') void this.redis.zrem(this.streamSetKey(stream.owner), stream.id).catch(() => undefined);
  }

  private beat(): void {
    const turn = this.tick++ % this.config.INBOX_STREAM_HEARTBEAT_SECONDS;
    for (const channel of this.channels.values()) {
      for (const stream of channel.streams) if (stream.heartbeatSlot === turn) stream.heartbeat();
    }
  }

  private abandon(name: string, error: unknown): never {
    const channel = this.channels.get(name);
    if (channel && channel.streams.size === 0) {
      this.channels.delete(name);
      void this.subscriber.unsubscribe(name).catch(() => undefined);
    }
    throw error;
  }

  private streamSetKey(owner: Xuid): string {
    return `${this.config.REDIS_PREFIX}:inbox-streams:{${owner}}`;
  }
}
