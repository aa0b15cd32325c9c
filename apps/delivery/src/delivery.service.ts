import { Injectable, Logger } from '@nestjs/common';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { ConfirmOutcome, QuotaLedger } from '@app/shared/quota';
import { BroadcastPacer } from './broadcast.pacer';
import { DeliveryMetrics } from './delivery.metrics';
import { BatchResult, DeliveryRepository } from './delivery.repository';
import { InboxEventsPublisher } from './inbox-events.publisher';

const CONFIRM_LABELS: Record<ConfirmOutcome, string> = {
  [ConfirmOutcome.Confirmed]: 'confirmed',
  [ConfirmOutcome.AlreadyConfirmed]: 'already-confirmed',
  [ConfirmOutcome.Recharged]: 'recharged',
  [ConfirmOutcome.Unknown]: 'unknown',
  // Delivery confirms without the reservation, so never this one.
  [ConfirmOutcome.Restored]: 'restored',
};

export type DeliveryOutcome = 'delivered' | 'already-delivered' | 'gone';

/**
 * Turns accepted messages into inbox entries (docs/api.md, Delivery and privacy), a batch at
 * a time: one statement reads the recipients' current directory state, drops
 * those privacy excludes and writes the rest (see DELIVERY_SQL.deliver).
 */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);

  constructor(
    private readonly repository: DeliveryRepository,
    private readonly metrics: DeliveryMetrics,
    private readonly ledger: QuotaLedger,
    private readonly events: InboxEventsPublisher,
    private readonly pacer: BroadcastPacer,
  ) {}

  async deliver(messageId: string): Promise<DeliveryOutcome> {
    return (await this.deliverBatch([messageId])).get(messageId)!;
  }

  /**
   * Delivers the messages in one transaction; the outcome of each by id. Then,
   * the messages being stored beyond doubt, confirms their quota charges (a
   * failure there fails the batch: its retry finds them delivered and confirms
   * again). The inbox events go out as soon as the statement has committed,
   * beside the confirmations.
   */
  async deliverBatch(messageIds: readonly string[]): Promise<Map<string, DeliveryOutcome>> {
    const results = await this.repository.deliver(messageIds);
    await Promise.all([this.events.publishDelivered(results), this.confirmCharges(results)]);
    const now = Date.now();
    const outcomes = new Map<string, DeliveryOutcome>();
    let written = 0;
    for (const result of results) {
      outcomes.set(result.id, this.outcomeOf(result));
      written += result.written;
      for (const reason of result.dropped) this.metrics.recipientsDropped.inc({ reason });
      if (result.outcome === 'delivered') {
        const latencyMs = Math.max(0, now - sentOfMessageId(result.id));
        this.metrics.acceptanceToInbox.observe(latencyMs / 1000);
        // A redelivered message's age (its backoff included) moves the pause for one window at most.
        this.pacer.record(latencyMs);
      }
    }
    this.metrics.entriesWritten.inc(written);
    this.metrics.batchSize.observe(messageIds.length);
    return outcomes;
  }

  private async confirmCharges(results: BatchResult[]): Promise<void> {
    const outcomes = await Promise.all(
      results.flatMap((result) => (result.sender === null ? [] : [this.ledger.confirm(result.sender, result.id)])),
    );
    for (const outcome of outcomes) this.metrics.quotaConfirmations.inc({ outcome: CONFIRM_LABELS[outcome] });
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
