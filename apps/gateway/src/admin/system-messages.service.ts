import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { createHash } from 'node:crypto';
import { BROADCAST_JOBS, BROADCAST_QUEUE, chunkJobId, DELIVER_CHUNK_JOB_OPTIONS, DeliverChunkJob } from '@app/shared/contracts';
import { messageIdFactory } from '@app/shared/database/message-id';
import { AppError, ERRORS } from '@app/shared/errors';
import { parseXuid, Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';
import { canonicalJson } from '../outbox/idempotency.service';
import { parseSystemMessageRequest } from './system-message-request';
import { BroadcastStatus, SystemMessagesRepository } from './system-messages.repository';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const BROADCAST_ID = /^[A-Za-z0-9_-]{1,50}$/;

/**
 * System messages (docs/api.md, System messages): a broadcast is stored with
 * its chunks in one transaction, then its chunk jobs go on the broadcast
 * queue; the delivery workers write them. An Idempotency-Key is kept on the
 * broadcast itself (unique), so a retry finds it for as long as it exists.
 */
@Injectable()
export class SystemMessagesService {
  private readonly logger = new Logger(SystemMessagesService.name);
  private readonly nextMessageId = messageIdFactory();
  private readonly senderXuid: Xuid;

  constructor(
    private readonly repository: SystemMessagesRepository,
    private readonly config: GatewayConfig,
    @InjectQueue(BROADCAST_QUEUE) private readonly queue: Queue<DeliverChunkJob>,
  ) {
    this.senderXuid = parseXuid(config.SYSTEM_SENDER_XUID)!;
  }

  async create(body: unknown, keyHeader: string | string[] | undefined, requestId: string): Promise<BroadcastStatus> {
    const key = idempotencyKeyOf(keyHeader);
    const request = parseSystemMessageRequest(body, this.config.MESSAGE_TTL_SECONDS);
    const requestHash = key === null ? null : createHash('sha256').update(canonicalJson(body)).digest('hex');
    if (key !== null) {
      const existing = await this.repository.findByKey(key);
      if (existing) return this.replay(existing, requestHash);
    }
    if (request.recipients !== 'all') {
      const unknown = await this.repository.unknownXuids(request.recipients);
      if (unknown.length > 0) {
        throw new AppError(
          ERRORS.BROADCAST_RECIPIENTS_UNKNOWN,
          `${unknown.length} of the ${request.recipients.length} recipients are not in the directory (listed in "unknownXuids"); ` +
            'nothing was sent. Create them with PUT /admin/users/{xuid} or leave them out.',
          undefined,
          { unknownXuids: unknown },
        );
      }
    }
    const sentMillis = Date.now();
    const id = this.nextMessageId(sentMillis);
    const ttl = request.expiresInSeconds ?? this.config.MESSAGE_TTL_SECONDS;
    const created = await this.repository.create({
      id,
      subject: request.subject,
      text: request.messageText,
      recipients: request.recipients,
      sent: new Date(sentMillis),
      expiration: new Date(sentMillis + ttl * 1000),
      senderXuid: this.senderXuid,
      senderGamertag: this.config.SYSTEM_SENDER_GAMERTAG,
      requestId,
      idempotencyKey: key,
      requestHash,
      chunkSize: this.config.BROADCAST_CHUNK_SIZE,
    });
    if (created.outcome === 'exists') return this.replay(created, requestHash);
    // Read before the jobs exist, so the answer is the broadcast as stored: queued (or done, with no one to reach).
    const status = (await this.repository.status(id))!;
    await this.enqueue(id, created.chunks);
    return status;
  }

  async status(id: string): Promise<BroadcastStatus> {
    const status = BROADCAST_ID.test(id) ? await this.repository.status(id) : null;
    if (status === null) throw new AppError(ERRORS.BROADCAST_NOT_FOUND);
    return status;
  }

  async cancel(id: string): Promise<BroadcastStatus> {
    const status = BROADCAST_ID.test(id) ? await this.repository.cancel(id) : null;
    if (status === null) throw new AppError(ERRORS.BROADCAST_NOT_FOUND);
    return status;
  }

  /** The broadcast a key already created, if the body is the same. */
  private async replay(
    existing: { id: string; requestHash: string | null },
    requestHash: string | null,
  ): Promise<BroadcastStatus> {
    if (existing.requestHash !== requestHash) throw new AppError(ERRORS.BROADCAST_IDEMPOTENCY_KEY_REUSED);
    return this.status(existing.id);
  }

  /**
   * The chunk jobs, after the commit. A failure here leaves the broadcast
   * stored: the sweeper enqueues its chunks after REDELIVER_AFTER_SECONDS.
   */
  private async enqueue(broadcastId: string, chunks: number[]): Promise<void> {
    const jobs = chunks.map((chunk) => {
      const data = { broadcastId, chunk };
      return { name: BROADCAST_JOBS.deliverChunk, data, opts: { ...DELIVER_CHUNK_JOB_OPTIONS, jobId: chunkJobId(data) } };
    });
    try {
      for (let start = 0; start < jobs.length; start += 1000) await this.queue.addBulk(jobs.slice(start, start + 1000));
    } catch (error) {
      this.logger.warn(
        { broadcastId, err: (error as Error).message },
        'Could not enqueue broadcast chunks; the sweeper will enqueue them',
      );
    }
  }
}

function idempotencyKeyOf(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (Array.isArray(header)) {
    throw new AppError(ERRORS.BROADCAST_IDEMPOTENCY_KEY_INVALID, 'The Idempotency-Key header is given twice; send it once.');
  }
  if (!KEY_SHAPE.test(header)) throw new AppError(ERRORS.BROADCAST_IDEMPOTENCY_KEY_INVALID);
  return header;
}
