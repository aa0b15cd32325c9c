/** The BullMQ queue that carries delivery work. */
export const DELIVERY_QUEUE = 'delivery';

/** Job names on {@link DELIVERY_QUEUE}; the worker refuses to start if one has no handler. */
export const DELIVERY_JOBS = {
  /** Fan one accepted message out to its recipients' inboxes. {@link DeliverMessageJob} */
  deliverMessage: 'deliver-message',
  /**
   * Fan out the messages one gateway accepted in the same moment (one turn of
   * its event loop). {@link DeliverMessagesJob}
   */
  deliverMessages: 'deliver-messages',
  /** Periodic: re-enqueue accepted messages never delivered. No payload. */
  redeliverSweep: 'redeliver-sweep',
  /** Periodic: delete expired inbox entries and messages. No payload. */
  purgeExpired: 'purge-expired',
} as const;

export type DeliveryJobName = (typeof DELIVERY_JOBS)[keyof typeof DELIVERY_JOBS];

/**
 * Payload of {@link DELIVERY_JOBS.deliverMessage}: ids only, Postgres holds the
 * message. The job id is the message id, so enqueueing twice is harmless.
 */
export interface DeliverMessageJob {
  messageId: string;
  requestId?: string;
}

/**
 * Payload of {@link DELIVERY_JOBS.deliverMessages}: one queue entry for many
 * messages, so the queue's cost per job (a script to add it, one to take it,
 * one to finish it) is shared. The job id is its first message's id; the job
 * completes once every one of its messages is delivered, and a retry
 * re-delivers only those that are not (delivery is idempotent).
 */
export interface DeliverMessagesJob {
  messages: DeliverMessageJob[];
}

/**
 * Options of every deliver-message(s) job. Retries back off exponentially;
 * retention is bounded so Redis memory stays flat. A job that exhausts its
 * attempts stays in the failed set for inspection, and the sweeper enqueues
 * its message again later (Postgres, not the queue, is the source of truth).
 */
export const DELIVER_MESSAGE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
} as const;
