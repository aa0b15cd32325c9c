import { Injectable, Logger } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { SharedConfig } from '@app/shared/config';
import { InboxEvent, inboxEventChannel, InboxFanOut, inboxFanOutChannel, PublishedEntry } from '@app/shared/contracts';
import { InjectMetrics } from '@app/shared/metrics';
import { InjectRedis, RedisClient } from '@app/shared/redis';
import { DeliveredEntries } from './broadcast.repository';

/**
 * Tells the gateways' open inbox streams about the entries a delivery batch
 * or a broadcast chunk committed (docs/api.md, Inbox events): for a batch, one
 * PUBLISH per entry on its recipient's channel, all in one pipeline (one round
 * trip); for a chunk, one PUBLISH of all its entries on the fan-out channel. Called
 * only after the batch's statement returned, so never before the commit. A
 * failed publish does not fail the delivery: the entries are stored, a stream
 * fills the gap from Postgres at its next event, and a reconnect replays them.
 */
@Injectable()
export class InboxEventsPublisher {
  private readonly logger = new Logger(InboxEventsPublisher.name);
  private readonly published: Counter;
  private readonly failures: Counter;
  private lastFailure = '';

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly config: SharedConfig,
    @InjectMetrics() registry: Registry,
  ) {
    this.published = new Counter({
      name: 'delivery_inbox_events_published_total',
      help: 'Inbox message events published after delivery commits (one per entry written)',
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'delivery_inbox_event_publish_failures_total',
      help: 'Batches whose inbox events could not be published (streams catch up from Postgres)',
      registers: [registry],
    });
  }

  async publishDelivered(results: readonly DeliveredEntries[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    let count = 0;
    for (const result of results) {
      const entry = publishedEntry(result);
      for (let i = 0; i < result.recipients.length; i++) {
        const event: InboxEvent = { kind: 'message', sequence: Number(result.sequences[i]), entry };
        pipeline.publish(inboxEventChannel(this.config.REDIS_PREFIX, result.recipients[i]), JSON.stringify(event));
        count++;
      }
    }
    if (count > 0) await this.send(() => pipeline.exec(), count);
  }

  /** A broadcast chunk's entries (one message, thousands of recipients), as one message on the fan-out channel. */
  async publishFanOut(result: DeliveredEntries): Promise<void> {
    if (result.recipients.length === 0) return;
    const fanOut: InboxFanOut = {
      entry: publishedEntry(result),
      recipients: result.recipients,
      sequences: result.sequences.map(Number),
    };
    const channel = inboxFanOutChannel(this.config.REDIS_PREFIX);
    await this.send(async () => [[null, await this.redis.publish(channel, JSON.stringify(fanOut))]], fanOut.recipients.length);
  }

  private async send(exec: () => Promise<[Error | null, unknown][] | null>, count: number): Promise<void> {
    try {
      const replies = (await exec()) ?? [];
      const failed = replies.find(([error]) => error !== null);
      if (failed) throw failed[0] as Error;
      this.published.inc(count);
      this.lastFailure = '';
    } catch (error) {
      this.failures.inc();
      const message = (error as Error).message;
      // Once per kind of failure, not once per batch while Redis is away.
      if (message !== this.lastFailure)
        this.logger.warn(`Inbox events not published (${message}); streams catch up from Postgres`);
      this.lastFailure = message;
    }
  }
}

function publishedEntry(result: DeliveredEntries): PublishedEntry {
  return {
    messageId: result.id,
    expirationMillis: result.expirationMillis!,
    senderXuid: result.sender!,
    sender: result.senderGamertag!,
    messageType: result.messageType!,
    summary: result.summary!,
  };
}
