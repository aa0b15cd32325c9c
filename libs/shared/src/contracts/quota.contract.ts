import { Xuid } from '../xuid';

/** RPC patterns served by the quota service over TCP (@nestjs/microservices). */
export const QUOTA_PATTERNS = {
  /** Check every limit and record the send, atomically. {@link QuotaReserveRequest} -> {@link QuotaReserveResult} */
  reserve: 'quota.reserve',
  /** Give back a reservation whose message was never stored. {@link QuotaReleaseRequest} -> {@link QuotaReleaseResult} */
  release: 'quota.release',
  /** The messages were stored: their provisional charges stand. {@link QuotaConfirmRequest} -> {@link QuotaConfirmResult} */
  confirm: 'quota.confirm',
  /** What a sender is charged for now. {@link QuotaUsageRequest} -> {@link QuotaUsageResult} */
  usage: 'quota.usage',
  /** Introspection: each limit, what is used of it, when it next frees up; charges nothing. {@link QuotaLimitsRequest} -> {@link QuotaLimitsResult} */
  limits: 'quota.limits',
  /** Readiness: answers when quota can reach Redis. void -> {@link QuotaPingResult} */
  ping: 'quota.ping',
} as const;

/**
 * Every quota call's payload carries one, in its `credential` field: quota
 * refuses a call without a valid one before doing anything. `mac` is
 * HMAC-SHA256, base64url, keyed with the secret of `kid` (a QUOTA_RPC_KEYS
 * key), over the pattern, a newline, and the JSON of the payload without
 * its credential (libs/shared/src/quota/quota-rpc-credential.ts).
 */
export interface QuotaRpcCredential {
  kid: string;
  mac: string;
}

/** A payload as it travels: the request and its credential. */
export type Signed<T extends object> = T & { credential: QuotaRpcCredential };

/** Quota's error answer to a call whose credential is missing or does not verify. */
export interface QuotaCredentialsRefused {
  refused: 'credentials';
  /** Why, naming no secret: "no credential", "malformed credential", "unknown kid k9", "bad signature for kid k1". */
  reason: string;
}

/** The four per-sender limits (docs/api.md, Limits). */
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
  /** The time of the send, ms since the epoch, from the database's clock (the id's own time). */
  sentAt: number;
  requestId?: string;
}

/**
 * Accepted: charged provisionally, until a confirm (the message was stored) or
 * a release; unconfirmed past QUOTA_PENDING_SECONDS, it lapses. `givenUp`: this
 * message id was released (or lapsed) before, so it must not be stored now.
 */
export type QuotaReserveResult = { accepted: true } | QuotaRejection | { accepted: false; givenUp: true };

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
  /** The send's time, as in its reserve. */
  sentAt: number;
  requestId?: string;
}

/** A reservation's counts and time, as its reserve made them. */
export interface QuotaReservation {
  recipients: number;
  strangers: number;
  sentAt: number;
}

/** A stored message, and, where the confirmer knows it (the gateway does), its reservation. */
export interface QuotaConfirmation {
  senderXuid: Xuid;
  messageId: string;
  /**
   * The reservation as the reserve made it. A ledger with no trace of the
   * message charges it from these: its reserve was acknowledged by a Redis
   * master that died before replicating it, and the message is stored.
   */
  reserved?: QuotaReservation;
}

export interface QuotaConfirmRequest {
  messages: QuotaConfirmation[];
}

export interface QuotaConfirmResult {
  /** How many provisional charges this call made final. */
  confirmed: number;
}

export interface QuotaUsageRequest {
  senderXuid: Xuid;
  /** Now, ms, from the database's clock. */
  now: number;
}

export interface QuotaUsageResult {
  messages: number;
  recipients: number;
  strangers: number;
  /** Of `messages`, charged provisionally: not yet known to be stored. */
  pending: number;
}

export interface QuotaLimitsRequest {
  senderXuid: Xuid;
  /** Now, ms, from the database's clock (the clock sends are charged by). */
  now: number;
}

/** One limit as the sender stands against it. */
export interface QuotaLimitStanding {
  /** The configured value. */
  max: number;
  /** Used in the window now (pending charges included); 0 for the per-message limit. */
  used: number;
  /** When the oldest send using some of it leaves the window, ms; null when nothing is used. */
  nextFreeAt: number | null;
}

export interface QuotaLimitsResult {
  windowSeconds: number;
  limits: Record<QuotaLimit, QuotaLimitStanding>;
}

export interface QuotaReleaseResult {
  released: boolean;
}

export interface QuotaPingResult {
  redis: 'up';
}
