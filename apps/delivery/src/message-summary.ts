import { MessageType } from '@app/shared/database/entities/message.entity';

export const SUMMARY_CODE_POINTS = 20;

/**
 * What a listing shows of a message: a user message's first 20 code points
 * (never half an emoji's surrogate pair), or a system message's subject.
 */
export function messageSummary(type: MessageType, text: string, subject: string | null): string {
  if (type !== MessageType.User && subject !== null) return subject;
  return Array.from(text).slice(0, SUMMARY_CODE_POINTS).join('');
}
