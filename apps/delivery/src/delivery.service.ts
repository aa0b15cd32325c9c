import { Injectable, Logger } from '@nestjs/common';
import { CommunicationSetting } from '@app/shared/database/entities/user.entity';
import { Xuid } from '@app/shared/xuid';
import { DeliveryMetrics, DropReason } from './delivery.metrics';
import { DeliveryRepository, RecipientState } from './delivery.repository';
import { messageSummary } from './message-summary';

export type DeliveryOutcome = 'delivered' | 'already-delivered' | 'gone';

/**
 * Turns an accepted message into inbox entries (CONTRACT section 3): reads the
 * message and the recipients' current directory state, silently drops those
 * privacy excludes, and writes the rest in one statement.
 */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);

  constructor(
    private readonly repository: DeliveryRepository,
    private readonly metrics: DeliveryMetrics,
  ) {}

  async deliver(messageId: string): Promise<DeliveryOutcome> {
    const message = await this.repository.findMessage(messageId);
    // Purged after expiring before anyone delivered it: nothing left to do.
    if (message === null) return 'gone';
    if (message.delivered) return 'already-delivered';
    if (message.expired) {
      await this.repository.markDelivered(message.id);
      return 'gone';
    }

    const [senderGamertag, states] = await Promise.all([
      this.repository.senderGamertag(message.senderXuid),
      this.repository.recipientStates(message.senderXuid, message.recipients),
    ]);
    if (senderGamertag === null) {
      // The sender was removed from the directory after sending; there is no one to show as sender.
      this.logger.warn(`Message ${message.id} has no sender in the directory any more; not delivered`);
      await this.repository.markDelivered(message.id);
      return 'gone';
    }
    const eligible = this.eligibleRecipients(message.senderXuid, message.recipients, states);

    const written = await this.repository.writeEntries({
      messageId: message.id,
      sent: message.sent,
      expiration: message.expiration,
      senderXuid: message.senderXuid,
      senderGamertag,
      messageType: message.messageType,
      summary: messageSummary(message.messageType, message.text, message.subject),
      recipients: eligible,
    });
    this.metrics.entriesWritten.inc(written);
    this.metrics.acceptanceToInbox.observe(Math.max(0, Date.now() - message.sent.getTime()) / 1000);
    return 'delivered';
  }

  private eligibleRecipients(sender: Xuid, recipients: Xuid[], states: RecipientState[]): Xuid[] {
    const byXuid = new Map(states.map((state) => [state.xuid, state]));
    const eligible: Xuid[] = [];
    for (const xuid of recipients) {
      const reason = xuid === sender ? null : dropReason(byXuid.get(xuid));
      if (reason === null) eligible.push(xuid);
      else this.metrics.recipientsDropped.inc({ reason });
    }
    return eligible;
  }
}

/** Why privacy drops this recipient, or null when they receive the message. */
function dropReason(state: RecipientState | undefined): DropReason | null {
  if (state === undefined) return DropReason.UnknownRecipient;
  if (state.blocksSender) return DropReason.BlockedSender;
  if (state.communication === CommunicationSetting.Blocked) return DropReason.SettingBlocked;
  if (state.communication === CommunicationSetting.Friends && !state.friendsWithSender) return DropReason.FriendsOnly;
  return null;
}
