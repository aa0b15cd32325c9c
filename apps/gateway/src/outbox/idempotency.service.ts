import { Injectable } from '@nestjs/common';
import { createHash, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ERRORS } from '@app/shared/errors';
import { JsonNumber, Xuid } from '@app/shared/xuid';
import { IdempotencyClaim, IdempotencyRepository } from './idempotency.repository';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const KEY_TTL_SECONDS = 24 * 3600;
// A first request still unanswered after this long most likely died with its
// process; if it did not, the fence stops it from storing a second message.
export const ABANDONED_AFTER_SECONDS = 60;
// A waiting retry looks again after 25 ms, doubling up to 1 s, each wait
// jittered, so a slow database is not hit harder by the retries piling up.
const FIRST_WAIT_MS = 25;
const LONGEST_WAIT_MS = 1000;
const MAX_WAIT_MS = 30_000;

/** The n-th wait (from 0): exponential, capped, with full jitter over its upper half. */
export function waitBefore(attempt: number): number {
  const ceiling = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** attempt);
  return Math.ceil(ceiling / 2) + randomInt(Math.floor(ceiling / 2) + 1);
}

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
    if (Array.isArray(header)) {
      throw new AppError(ERRORS.IDEMPOTENCY_KEY_INVALID, 'The Idempotency-Key header is given twice; send it once.');
    }
    if (!KEY_SHAPE.test(header)) {
      const length = [...header].length;
      const what =
        length === 0 || length > 255 ? `it has ${length} characters` : 'it has a space, a control or a non-ASCII character';
      throw new AppError(
        ERRORS.IDEMPOTENCY_KEY_INVALID,
        `${ERRORS.IDEMPOTENCY_KEY_INVALID.message.replace(/\.$/, '')}; ${what}.`,
      );
    }
    const key = header;
    const requestHash = createHash('sha256').update(canonicalJson(body)).digest('hex');

    const deadline = Date.now() + MAX_WAIT_MS;
    for (let attempt = 0; Date.now() < deadline;) {
      let claim = await this.records.claim(senderXuid, key, requestHash, KEY_TTL_SECONDS);
      if (claim === null) {
        const record = await this.records.find(senderXuid, key);
        if (record === null) continue;
        if (record.expired) {
          await this.records.deleteExpired(senderXuid, key);
          continue;
        }
        if (record.requestHash !== requestHash) throw new AppError(ERRORS.IDEMPOTENCY_KEY_REUSED);
        if (record.completed) return;
        if (record.ageSeconds > ABANDONED_AFTER_SECONDS) {
          claim = await this.records.takeOver(senderXuid, key, record, ABANDONED_AFTER_SECONDS);
        }
        if (claim === null) {
          await sleep(waitBefore(attempt++));
          continue;
        }
      }
      try {
        await send(claim);
        return;
      } catch (error) {
        await this.records.release(claim);
        throw error;
      }
    }
    throw new AppError(
      ERRORS.DEPENDENCY_UNAVAILABLE,
      'The first request with this Idempotency-Key is still running; retry later.',
      1,
    );
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
