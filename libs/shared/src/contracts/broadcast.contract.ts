/**
 * The BullMQ queue of broadcast chunks, apart from user deliveries so a
 * broadcast of a million entries never waits in front of a player's message:
 * every delivery process works it with BROADCAST_CONCURRENCY jobs at once,
 * beside (not instead of) its DELIVERY_CONCURRENCY.
 */
export const BROADCAST_QUEUE = 'broadcast';

/** Job names on {@link BROADCAST_QUEUE}. */
export const BROADCAST_JOBS = {
  /** Write one chunk of a broadcast's entries. {@link DeliverChunkJob} */
  deliverChunk: 'deliver-chunk',
} as const;

/**
 * Payload of {@link BROADCAST_JOBS.deliverChunk}: ids only, Postgres holds the
 * chunk. The job id is {@link chunkJobId}, so enqueueing a chunk twice is harmless.
 */
export interface DeliverChunkJob {
  broadcastId: string;
  chunk: number;
}

/** `<broadcast id>.<chunk>` (BullMQ refuses ":" in custom ids). */
export const chunkJobId = (job: DeliverChunkJob): string => `${job.broadcastId}.${job.chunk}`;

/**
 * Options of every deliver-chunk job: retries back off like deliveries'; a
 * chunk that exhausts them stays failed until the sweeper retries it.
 */
export const DELIVER_CHUNK_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
} as const;
