import type { ServerResponse } from 'node:http';
import { InboxEvent } from '@app/shared/contracts';
import { Xuid } from '@app/shared/xuid';
import { toInboxItem } from '../dto/inbox.response';
import { InboxListEntry } from '../inbox.repository';
import { EventIdCodec } from './event-id';
import { ReplayEntry } from './inbox-events.repository';

/** Entries read from Postgres per replay query; a page is written, and drained, before the next is read. */
export const REPLAY_PAGE = 50;

/** Why a stream ended, as the metrics count it. */
export type CloseReason = 'client' | 'superseded' | 'shutdown' | 'slow' | 'error';

/** What a stream needs from the gateway around it. */
export interface StreamContext {
  codec: EventIdCodec;
  bufferBytes: number;
  replay(owner: Xuid, after: number, limit: number): Promise<ReplayEntry[]>;
  sent(kind: 'message' | 'read' | 'unread' | 'deleted'): void;
  closed(stream: InboxStream, reason: CloseReason): void;
}

/**
 * One open event stream: writes Server-Sent Events to the raw response and
 * keeps `high`, the delivery sequence of the last message it sent. Within an
 * inbox, sequence order is commit order (DELIVERY_SQL.deliver), so:
 * - a published entry numbered `high + 1` is the next one: it is sent as it came;
 * - one numbered lower was sent already (or replayed): it is skipped;
 * - one numbered higher means events are missing (racing publishers, a lost
 *   publish): every entry after `high` is committed by now, so the stream
 *   reads them from Postgres, in order, and sends those.
 * So each message is sent once, in delivery order, and a reconnect with the
 * last id replays exactly what came after it.
 */
export class InboxStream {
  private catchingUp = false;
  private again = false;
  private ended = false;

  constructor(
    readonly id: string,
    readonly owner: Xuid,
    private readonly response: ServerResponse,
    private high: number,
    private readonly context: StreamContext,
    /** The second of each heartbeat period in which this stream's heartbeat is written (spreads them out). */
    readonly heartbeatSlot = 0,
  ) {
    response.on('close', () => this.finish('client'));
    response.on('error', () => this.finish('error'));
  }

  get open(): boolean {
    return !this.ended;
  }

  /** The first event, naming where the stream starts, then the entries delivered after `high`. */
  start(): void {
    this.write(`retry: 2000\nid: ${this.eventId()}\nevent: ready\ndata: {}\n\n`);
    this.catchUp();
  }

  deliver(event: InboxEvent): void {
    if (this.ended) return;
    switch (event.kind) {
      case 'message':
        if (event.sequence <= this.high) return;
        if (!this.catchingUp && event.sequence === this.high + 1) {
          this.sendMessage(event.sequence, { ...event.entry, isRead: false } as InboxListEntry);
        } else {
          this.catchUp();
        }
        return;
      case 'read':
      case 'unread':
      case 'deleted':
        for (const id of event.messageIds) {
          this.write(`id: ${this.eventId()}\nevent: ${event.kind}\ndata: ${JSON.stringify({ id })}\n\n`);
          this.context.sent(event.kind);
        }
        return;
      case 'superseded':
        if (event.streamIds.includes(this.id)) this.close('superseded');
        return;
    }
  }

  /** Reads the entries after `high` from Postgres (after a gap, or after pub/sub came back). */
  catchUp(): void {
    if (this.ended) return;
    if (this.catchingUp) {
      this.again = true;
      return;
    }
    this.catchingUp = true;
    void this.replayAll().finally(() => (this.catchingUp = false));
  }

  heartbeat(): void {
    this.write(': heartbeat\n\n');
  }

  /** Ends the stream with a last `closed` event saying why (the client reconnects elsewhere, or not at all). */
  close(reason: 'superseded' | 'shutdown'): void {
    if (this.ended) return;
    this.write(`event: closed\ndata: ${JSON.stringify({ reason })}\n\n`);
    this.finish(reason);
    this.response.end();
  }

  private async replayAll(): Promise<void> {
    try {
      do {
        this.again = false;
        const entries = await this.context.replay(this.owner, this.high, REPLAY_PAGE);
        for (const entry of entries) {
          if (this.ended) return;
          const sequence = Number(entry.sequence);
          if (sequence > this.high) this.sendMessage(sequence, entry);
        }
        if (entries.length === REPLAY_PAGE) this.again = true;
        if (this.response.writableNeedDrain) await this.drained();
      } while (this.again && !this.ended);
    } catch {
      // Postgres failed under an open stream: end it; the client reconnects with its last id.
      this.finish('error');
      this.response.destroy();
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.once('drain', done);
      this.response.once('close', done);
    });
  }

  private sendMessage(sequence: number, entry: InboxListEntry): void {
    this.high = sequence;
    this.write(`id: ${this.eventId()}\nevent: message\ndata: ${JSON.stringify(toInboxItem(entry))}\n\n`);
    this.context.sent('message');
  }

  private eventId(): string {
    return this.context.codec.encode(this.owner, this.high);
  }

  /** Writes, unless the client lets more than the buffer limit pile up unread: then it is dropped. */
  private write(chunk: string): void {
    if (this.ended) return;
    this.response.write(chunk);
    if (this.response.writableLength > this.context.bufferBytes) {
      this.finish('slow');
      this.response.destroy();
    }
  }

  private finish(reason: CloseReason): void {
    if (this.ended) return;
    this.ended = true;
    this.context.closed(this, reason);
  }
}
