import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ERRORS } from '@app/shared/errors';
import { JsonNumber, Xuid } from '@app/shared/xuid';
import { IdempotencyClaim, IdempotencyRepository } from './idempotency.repository';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const KEY_TTL_SECONDS = 24 * 3600;
// A first request still unanswered after this long died with its process.
const ABANDONED_AFTER_SECONDS = 60;
const POLL_MS = 25;
const MAX_WAIT_MS = 30_000;

/**
 * `Idempotency-Key` on POST outbox (beyond the original service): a retry with
 * the same key and body within 24 h returns the first result without sending
 * or charging again; the same key with another body is 422; a retry arriving
 * while the first is in flight waits for it. Only an accepted send is
 * remembered: a refused one consumed nothing, so its retry simply runs again.
 */
@Injectable()
export class IdempotencyService {
  constructor(private readonly records: IdempotencyRepository) {}

  async run(
    senderXuid: Xuid,
    header: string | string[] | undefined,
    body: unknown,
    send: (claim: IdempotencyClaim | null) => Promise<unknown>,
  ): Promise<void> {
    if (header === undefined) {
      await send(null);
      return;
    }
    if (typeof header !== 'string' || !KEY_SHAPE.test(header)) throw new AppError(ERRORS.IDEMPOTENCY_KEY_INVALID);
    const claim: IdempotencyClaim = { senderXuid, key: header };
    const requestHash = createHash('sha256').update(canonicalJson(body)).digest('hex');

    const deadline = Date.now() + MAX_WAIT_MS;
    while (Date.now() < deadline) {
      if (await this.records.claim(claim, requestHash, KEY_TTL_SECONDS)) {
        try {
          await send(claim);
          return;
        } catch (error) {
          await this.records.release(claim, 'in-flight');
          throw error;
        }
      }
      const record = await this.records.find(claim);
      if (record === null) continue;
      if (record.expired) {
        await this.records.release(claim, 'expired');
        continue;
      }
      if (record.requestHash !== requestHash) {
        throw new AppError(ERRORS.IDEMPOTENCY_KEY_REUSED);
      }
      if (record.completed) return;
      if (record.ageSeconds > ABANDONED_AFTER_SECONDS) {
        await this.records.release(claim, 'stale', ABANDONED_AFTER_SECONDS);
        continue;
      }
      await sleep(POLL_MS);
    }
    throw new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'The first request with this Idempotency-Key is still running; retry later.', 1);
  }
}

/** The body with object keys sorted and numbers as written, so equal requests hash alike. */
export function canonicalJson(value: unknown): string {
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}
