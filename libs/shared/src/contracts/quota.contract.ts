import { Xuid } from '../xuid';

/** RPC patterns served by the quota service over TCP (@nestjs/microservices). */
export const QUOTA_PATTERNS = {
  /** Check every limit and record the send, atomically. {@link QuotaReserveRequest} -> {@link QuotaReserveResult} */
  reserve: 'quota.reserve',
  /** Give back a reservation whose message was never stored. {@link QuotaReleaseRequest} -> {@link QuotaReleaseResult} */
  release: 'quota.release',
  /** Readiness: answers when quota can reach Redis. void -> {@link QuotaPingResult} */
  ping: 'quota.ping',
} as const;

/** The four per-sender limits (CONTRACT section 2, "Limits"). */
export enum QuotaLimit {
  StrangersPerMessage = 'strangers-per-message',
  MessagesPerWindow = 'messages-per-window',
  RecipientsPerWindow = 'recipients-per-window',
  StrangersPerWindow = 'strangers-per-window',
}

export interface QuotaReserveRequest {
  senderXuid: Xuid;
  /** Reservations are keyed by message id, so retrying a reserve or a release is idempotent. */
  messageId: string;
  /** Distinct recipients, friends and strangers, including those privacy will drop. */
  recipients: number;
  /** Distinct recipients not on the sender's friends list (never the sender). */
  strangers: number;
  requestId?: string;
}

export type QuotaReserveResult = { accepted: true } | QuotaRejection;

export interface QuotaRejection {
  accepted: false;
  limit: QuotaLimit;
  /** The configured value of the limit that failed. */
  max: number;
  windowSeconds: number;
  /** Whole seconds until this same send would fit; -1 when it never can. */
  retryAfterSeconds: number;
}

export interface QuotaReleaseRequest {
  senderXuid: Xuid;
  messageId: string;
  requestId?: string;
}

export interface QuotaReleaseResult {
  released: boolean;
}

export interface QuotaPingResult {
  redis: 'up';
}
