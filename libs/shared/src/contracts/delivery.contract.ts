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
} as const;

export type DeliveryJobName = (typeof DELIVERY_JOBS)[keyof typeof DELIVERY_JOBS];

/**
 * The queue of the periodic maintenance, apart from deliveries so it never
 * waits behind a delivery backlog (and a long purge never holds a delivery
 * slot). Every delivery process works it, one job at a time.
 */
export const MAINTENANCE_QUEUE = 'maintenance';

/** Job names on {@link MAINTENANCE_QUEUE}. No payloads. */
export const MAINTENANCE_JOBS = {
  /** Periodic: re-enqueue accepted messages never delivered. */
  redeliverSweep: 'redeliver-sweep',
  /** Periodic, and again at once while expired rows remain: delete expired messages, entries and keys. */
  purgeExpired: 'purge-expired',
} as const;

export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[keyof typeof MAINTENANCE_JOBS];

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
  // Jittered over the upper half, so jobs that failed together (a dependency
  // outage) do not all come back at the same instant once it recovers.
  backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
} as const;
