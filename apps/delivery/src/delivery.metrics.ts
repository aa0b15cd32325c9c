import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BROADCAST_QUEUE, DELIVERY_QUEUE } from '@app/shared/contracts';
import { BROADCAST_STATES, BroadcastState } from '@app/shared/database/entities/broadcast.entity';
import { Database, statement } from '@app/shared/database';
import { InjectMetrics } from '@app/shared/metrics';

/** Why a recipient got nothing (docs/api.md, Delivery and privacy). Counted, never logged per pair. */
export enum DropReason {
  BlockedSender = 'blocked-sender',
  SettingBlocked = 'setting-blocked',
  FriendsOnly = 'friends-only',
  UnknownRecipient = 'unknown-recipient',
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

// A small table (one row per broadcast, purged with its message), read at scrape time.
const BROADCASTS_BY_STATE = statement<[], { state: BroadcastState; n: number }>(
  'metrics.broadcasts-by-state',
  `SELECT state, count(*)::int AS n FROM broadcasts GROUP BY state`,
);

/** Delivery's Prometheus metrics, served at GET /metrics of the delivery process. */
@Injectable()
export class DeliveryMetrics {
  readonly queueWait: Histogram;
  readonly acceptanceToInbox: Histogram;
  readonly entriesWritten: Counter;
  readonly batchSize: Histogram;
  readonly recipientsDropped: Counter<'reason'>;
  readonly retries: Counter;
  readonly failures: Counter;
  readonly redelivered: Counter;
  readonly purged: Counter<'kind'>;
  readonly quotaConfirmations: Counter<'outcome'>;
  readonly broadcastEntriesWritten: Counter;
  readonly broadcastChunks: Counter<'outcome'>;
  readonly broadcastChunkFailures: Counter;
  readonly broadcastChunkSeconds: Histogram;
  readonly broadcastPausedSeconds: Counter;

  constructor(
    @InjectMetrics() registry: Registry,
    @InjectQueue(DELIVERY_QUEUE) queue: Queue,
    @InjectQueue(BROADCAST_QUEUE) broadcastQueue: Queue,
    database: Database,
  ) {
    const registers = [registry];
    // Read from Redis at scrape time: the same numbers from every worker replica.
    const queueJobs: Gauge<'state'> = new Gauge({
      name: 'delivery_queue_jobs',
      help: 'Jobs in the delivery queue by state',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const counts = await queue.getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES) queueJobs.set({ state }, counts[state] ?? 0);
      },
    });
    const broadcastJobs: Gauge<'state'> = new Gauge({
      name: 'broadcast_queue_jobs',
      help: 'Chunk jobs in the broadcast queue by state',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const counts = await broadcastQueue.getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES) broadcastJobs.set({ state }, counts[state] ?? 0);
      },
    });
    const broadcasts: Gauge<'state'> = new Gauge({
      name: 'broadcasts',
      help: 'Broadcasts (system messages) not yet purged, by state',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const rows = await database.rows(BROADCASTS_BY_STATE, []);
        for (const state of BROADCAST_STATES) broadcasts.set({ state }, rows.find((row) => row.state === state)?.n ?? 0);
      },
    });
    this.broadcastEntriesWritten = new Counter({
      name: 'broadcast_inbox_entries_written_total',
      help: 'Inbox entries inserted by broadcast chunks (its rate is entries written per second)',
      registers,
    });
    this.broadcastChunks = new Counter({
      name: 'broadcast_chunks_total',
      help: 'Broadcast chunk jobs run, by outcome (skipped: written before, cancelled or gone)',
      labelNames: ['outcome'],
      registers,
    });
    this.broadcastChunkFailures = new Counter({
      name: 'broadcast_chunk_failures_total',
      help: 'Broadcast chunk attempts that failed (retried with backoff; the sweeper retries exhausted ones)',
      registers,
    });
    this.broadcastChunkSeconds = new Histogram({
      name: 'broadcast_chunk_seconds',
      help: 'Time to write one broadcast chunk (one statement)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.broadcastPausedSeconds = new Counter({
      name: 'broadcast_paused_seconds_total',
      help: "Time broadcast chunks waited before starting because players' messages were slow (BROADCAST_YIELD_LATENCY_MS)",
      registers,
    });
    this.queueWait = new Histogram({
      name: 'delivery_queue_wait_seconds',
      help: 'Time a deliver-message job waited in the queue before a worker took it',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.acceptanceToInbox = new Histogram({
      name: 'delivery_acceptance_to_inbox_seconds',
      help: 'Time from acceptance of a message (its sent time) to its entries being written',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.entriesWritten = new Counter({
      name: 'delivery_inbox_entries_written_total',
      help: 'Inbox entries inserted (repeats of a delivery insert none)',
      registers,
    });
    this.batchSize = new Histogram({
      name: 'delivery_batch_messages',
      help: 'Messages written per delivery transaction',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    });
    this.recipientsDropped = new Counter({
      name: 'delivery_recipients_dropped_total',
      help: 'Recipients who silently received nothing, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.quotaConfirmations = new Counter({
      name: 'delivery_quota_confirmations_total',
      help: 'Quota charges confirmed after delivery, by outcome (recharged: given up, then found stored)',
      labelNames: ['outcome'],
      registers,
    });
    this.retries = new Counter({
      name: 'delivery_job_retries_total',
      help: 'Delivery attempts that failed and will be retried',
      registers,
    });
    this.failures = new Counter({
      name: 'delivery_job_failures_total',
      help: 'Delivery jobs that exhausted their attempts (the sweeper enqueues their messages again later)',
      registers,
    });
    this.redelivered = new Counter({
      name: 'delivery_redelivered_total',
      help: 'Undelivered messages the sweeper enqueued again',
      registers,
    });
    this.purged = new Counter({
      name: 'delivery_purged_total',
      help: 'Expired rows deleted by the purge, by kind',
      labelNames: ['kind'],
      registers,
    });
  }
}
