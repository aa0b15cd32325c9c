import { Injectable, Logger } from '@nestjs/common';
import { DeliveryConfig } from './delivery.config';
import { DeliveryOutcome, DeliveryService } from './delivery.service';

// Batches in flight at once: one being written while the next fills.
const BATCHES_IN_FLIGHT = 2;

interface Waiter {
  resolve(outcome: DeliveryOutcome): void;
  reject(error: unknown): void;
}

/**
 * Groups the deliver-message jobs this worker holds into one transaction
 * (group commit). A job joins the next batch; a batch starts on the next turn
 * of the event loop when a slot is free, or at once when it is full, so an
 * idle worker delivers a lone message without waiting, and a busy one writes
 * up to DELIVERY_BATCH_SIZE messages per commit. Each job settles only when
 * its batch has committed. A batch that fails is retried one message at a
 * time, so only the messages that fail alone fail their jobs.
 */
@Injectable()
export class DeliveryBatcher {
  private readonly logger = new Logger(DeliveryBatcher.name);
  private readonly waiting = new Map<string, Waiter[]>();
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly delivery: DeliveryService,
    private readonly config: DeliveryConfig,
  ) {}

  deliver(messageId: string): Promise<DeliveryOutcome> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(messageId);
      if (waiters) waiters.push({ resolve, reject });
      else this.waiting.set(messageId, [{ resolve, reject }]);
      if (this.waiting.size >= this.config.DELIVERY_BATCH_SIZE) this.startBatches();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= BATCHES_IN_FLIGHT || this.waiting.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startBatches();
    });
  }

  private startBatches(): void {
    while (this.inFlight < BATCHES_IN_FLIGHT && this.waiting.size > 0) {
      const batch = new Map<string, Waiter[]>();
      for (const [id, waiters] of this.waiting) {
        if (batch.size === this.config.DELIVERY_BATCH_SIZE) break;
        batch.set(id, waiters);
        this.waiting.delete(id);
      }
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async write(batch: Map<string, Waiter[]>): Promise<void> {
    const ids = [...batch.keys()];
    try {
      settle(batch, await this.delivery.deliverBatch(ids));
      return;
    } catch (error) {
      if (ids.length === 1) {
        rejectAll(batch.get(ids[0])!, error);
        return;
      }
      this.logger.warn(`A batch of ${ids.length} deliveries failed (${(error as Error).message}); retrying them one by one`);
    }
    for (const id of ids) {
      const waiters = batch.get(id)!;
      try {
        settle(new Map([[id, waiters]]), await this.delivery.deliverBatch([id]));
      } catch (error) {
        rejectAll(waiters, error);
      }
    }
  }
}

function settle(batch: Map<string, Waiter[]>, outcomes: Map<string, DeliveryOutcome>): void {
  for (const [id, waiters] of batch) {
    const outcome = outcomes.get(id);
    for (const waiter of waiters) {
      if (outcome === undefined) waiter.reject(new Error(`The delivery statement returned nothing for message ${id}`));
      else waiter.resolve(outcome);
    }
  }
}

function rejectAll(waiters: Waiter[], error: unknown): void {
  for (const waiter of waiters) waiter.reject(error);
}
