import { Injectable, Logger } from '@nestjs/common';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { DeliveryMetrics } from './delivery.metrics';
import { BatchResult, DeliveryRepository } from './delivery.repository';

export type DeliveryOutcome = 'delivered' | 'already-delivered' | 'gone';

/**
 * Turns accepted messages into inbox entries (CONTRACT section 3), a batch at
 * a time: one statement reads the recipients' current directory state, drops
 * those privacy excludes and writes the rest (see DELIVERY_SQL.deliver).
 */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);

  constructor(
    private readonly repository: DeliveryRepository,
    private readonly metrics: DeliveryMetrics,
  ) {}

  async deliver(messageId: string): Promise<DeliveryOutcome> {
    return (await this.deliverBatch([messageId])).get(messageId)!;
  }

  /** Delivers the messages in one transaction; the outcome of each by id. */
  async deliverBatch(messageIds: readonly string[]): Promise<Map<string, DeliveryOutcome>> {
    const results = await this.repository.deliver(messageIds);
    const now = Date.now();
    const outcomes = new Map<string, DeliveryOutcome>();
    let written = 0;
    for (const result of results) {
      outcomes.set(result.id, this.outcomeOf(result));
      written += result.written;
      for (const reason of result.dropped) this.metrics.recipientsDropped.inc({ reason });
      if (result.outcome === 'delivered') {
        this.metrics.acceptanceToInbox.observe(Math.max(0, now - sentOfMessageId(result.id)) / 1000);
      }
    }
    this.metrics.entriesWritten.inc(written);
    this.metrics.batchSize.observe(messageIds.length);
    return outcomes;
  }

  private outcomeOf(result: BatchResult): DeliveryOutcome {
    switch (result.outcome) {
      case 'no-sender':
        // The sender was removed from the directory after sending; there is no one to show as sender.
        this.logger.warn(`Message ${result.id} has no sender in the directory any more; not delivered`);
        return 'gone';
      case 'expired':
        return 'gone';
      default:
        return result.outcome;
    }
  }
}
