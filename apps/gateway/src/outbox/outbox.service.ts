import { Injectable, Logger } from '@nestjs/common';
import { QuotaLimit, QuotaLimitsResult, QuotaRejection, QuotaReserveResult } from '@app/shared/contracts';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { DirectoryRepository } from '@app/shared/directory';
import { AppError, ERRORS } from '@app/shared/errors';
import { SubscriptionTier, UserIdentity } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../gateway.config';
import { QuotaClient } from '../quota/quota.client';
import { DeliveryQueue } from './delivery.queue';
import { IdempotencyClaim } from './idempotency.repository';
import { OutboxRepository } from './outbox.repository';
import { parseSendRequest, SendRequest } from './send-request';

const LIMIT_ERRORS = {
  [QuotaLimit.StrangersPerMessage]: ERRORS.LIMIT_STRANGERS_PER_MESSAGE,
  [QuotaLimit.MessagesPerWindow]: ERRORS.LIMIT_MESSAGES_PER_WINDOW,
  [QuotaLimit.RecipientsPerWindow]: ERRORS.LIMIT_RECIPIENTS_PER_WINDOW,
  [QuotaLimit.StrangersPerWindow]: ERRORS.LIMIT_STRANGERS_PER_WINDOW,
};

interface ResolvedRecipients {
  recipients: Xuid[];
  strangers: number;
  /** The database's time, ms: the send's one clock. */
  now: number;
}

/** Sending (docs/api.md, Send a message): validate, resolve, reserve quota, store durably, enqueue. */
@Injectable()
export class OutboxService {
  private readonly logger = new Logger(OutboxService.name);
  // Ids sort by time, and strictly increase within this process.
  private readonly nextMessageId = messageIdFactory();

  constructor(
    private readonly directory: DirectoryRepository,
    private readonly quota: QuotaClient,
    private readonly outbox: OutboxRepository,
    private readonly deliveryQueue: DeliveryQueue,
    private readonly config: GatewayConfig,
  ) {}

  /** Returns the id of the accepted message; throws an AppError for every refusal. */
  async send(sender: UserIdentity, body: unknown, requestId: string, claim: IdempotencyClaim | null = null): Promise<string> {
    if (sender.tier !== SubscriptionTier.Gold) throw new AppError(ERRORS.NOT_GOLD);
    const request = parseSendRequest(body);
    const { recipients, strangers, now } = await this.resolve(sender, request);

    // The id carries the send's time (the database's, so every gateway agrees);
    // it is strictly greater than this process's last one even if that clock stepped back.
    const messageId = this.nextMessageId(now);
    const sentAt = sentOfMessageId(messageId);
    let decision: QuotaReserveResult;
    try {
      decision = await this.quota.reserve({
        senderXuid: sender.xuid,
        messageId,
        recipients: recipients.length,
        strangers,
        sentAt,
        requestId,
      });
    } catch (error) {
      // A reserve we gave up on (timeout) may still be recorded later; the 503 must
      // consume nothing, so release it: its tombstone refuses the late reserve.
      // Not awaited: quota may be down altogether (then the reservation lapses).
      void this.releaseQuota(sender, messageId, sentAt, requestId);
      throw error;
    }
    if (!decision.accepted) {
      if ('givenUp' in decision) {
        throw new AppError(ERRORS.DEPENDENCY_UNAVAILABLE, 'The quota service gave this send up; retry.', 1);
      }
      throw limitError(decision);
    }

    const sent = new Date(sentAt);
    try {
      await this.outbox.insertMessage(
        {
          id: messageId,
          senderXuid: sender.xuid,
          text: request.messageText,
          recipients,
          sent,
          expiration: new Date(sent.getTime() + this.config.MESSAGE_TTL_SECONDS * 1000),
          requestId,
        },
        claim,
      );
    } catch (error) {
      // Not stored, so not sent: the send must consume nothing. (If the COMMIT
      // did happen and only its acknowledgement was lost, delivery confirms
      // the message and it is charged again.)
      await this.releaseQuota(sender, messageId, sentAt, requestId);
      throw error;
    }
    this.quota.confirmSoon(sender.xuid, messageId, { recipients: recipients.length, strangers, sentAt });

    try {
      await this.deliveryQueue.enqueue({ messageId, requestId });
    } catch (error) {
      // Stored is accepted: the redelivery sweeper enqueues it again.
      this.logger.warn(`Enqueue of message ${messageId} failed (${(error as Error).message}); the sweeper will deliver it`);
    }
    return messageId;
  }

  /**
   * The sender's four limits as the quota service counts them, at the
   * database's time (the clock sends are charged by), with that time.
   */
  async limits(sender: UserIdentity): Promise<{ now: number; limits: QuotaLimitsResult }> {
    const now = await this.outbox.now();
    return { now, limits: await this.quota.limits({ senderXuid: sender.xuid, now }) };
  }

  /** Gives a reservation back (idempotent, keyed by the message id); never throws. */
  private async releaseQuota(sender: UserIdentity, messageId: string, sentAt: number, requestId: string): Promise<void> {
    await this.quota
      .release({ senderXuid: sender.xuid, messageId, sentAt, requestId })
      .catch(() => this.logger.warn(`Could not release the quota of unstored message ${messageId}`));
  }

  /**
   * Looks every recipient up, and which are the sender's friends, in one
   * statement (the sender included, to know whether they exist); dedupes them
   * and counts strangers: recipients not on the sender's friends list, never
   * the sender. Recipients privacy will drop still count, so quotas never
   * reveal a block.
   */
  private async resolve(sender: UserIdentity, request: SendRequest): Promise<ResolvedRecipients> {
    const { byXuid, byGamertag, now } = await this.directory.resolveRecipients(
      sender.xuid,
      [...request.xuids, sender.xuid],
      request.gamertags,
    );
    const recipients = new Map<Xuid, boolean>();
    for (const xuid of request.xuids) {
      const user = byXuid.get(xuid);
      if (!user) throw new AppError(ERRORS.RECIPIENT_NOT_FOUND, `No user has XUID ${xuid}.`);
      recipients.set(xuid, user.friend);
    }
    for (const gamertag of request.gamertags) {
      const user = byGamertag.get(gamertag);
      if (!user) throw new AppError(ERRORS.RECIPIENT_NOT_FOUND, `No user has the gamertag "${gamertag}".`);
      recipients.set(user.xuid, user.friend);
    }
    if (!byXuid.has(sender.xuid)) await this.addSender(sender);

    let strangers = 0;
    for (const [xuid, friend] of recipients) if (xuid !== sender.xuid && !friend) strangers++;
    return { recipients: [...recipients.keys()], strangers, now };
  }

  /** A sender unknown to the directory is added from the token's claims (docs/api.md, Send a message). */
  private async addSender(sender: UserIdentity): Promise<void> {
    if (sender.gamertag !== null && (await this.directory.addUserIfAbsent(sender.xuid, sender.gamertag))) return;
    // Someone else may have added them meanwhile; otherwise there is no gamertag to show recipients.
    if (await this.directory.findUser(sender.xuid)) return;
    throw new AppError(
      ERRORS.SENDER_UNKNOWN,
      sender.gamertag === null
        ? 'The sender is not in the directory and the token has no gamertag (gtg) claim to add them with.'
        : `The sender is not in the directory and the gamertag "${sender.gamertag}" belongs to another user.`,
    );
  }
}

function limitError(rejection: QuotaRejection): AppError {
  const what = {
    [QuotaLimit.StrangersPerMessage]: `at most ${rejection.max} strangers in one message`,
    [QuotaLimit.MessagesPerWindow]: `at most ${rejection.max} messages`,
    [QuotaLimit.RecipientsPerWindow]: `at most ${rejection.max} recipients`,
    [QuotaLimit.StrangersPerWindow]: `at most ${rejection.max} strangers`,
  }[rejection.limit];
  const window = rejection.limit === QuotaLimit.StrangersPerMessage ? '' : ` in ${describeWindow(rejection.windowSeconds)}`;
  const retry =
    rejection.retryAfterSeconds < 0 ? 'This message can never fit.' : `Retry after ${rejection.retryAfterSeconds} seconds.`;
  return new AppError(
    LIMIT_ERRORS[rejection.limit],
    `Limit ${rejection.limit} reached: ${what}${window}. ${retry}`,
    rejection.retryAfterSeconds < 0 ? undefined : rejection.retryAfterSeconds,
  );
}

function describeWindow(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} hours` : `${seconds} seconds`;
}
