import { BroadcastAudience, BroadcastState } from '@app/shared/database/entities/broadcast.entity';
import { BroadcastStatus } from '../system-messages.repository';

/** A broadcast's progress, as POST, GET and DELETE /admin/system-messages answer it. */
export interface BroadcastResponse {
  id: string;
  state: BroadcastState;
  subject: string;
  recipients: BroadcastAudience;
  targeted: number;
  delivered: number;
  chunks: number;
  chunksDone: number;
  created: string;
  finished: string | null;
  expiration: string;
}

export const toBroadcastResponse = (status: BroadcastStatus): BroadcastResponse => ({
  id: status.id,
  state: status.state,
  subject: status.subject,
  recipients: status.audience,
  targeted: status.targeted,
  delivered: status.delivered,
  chunks: status.chunks,
  chunksDone: status.chunksDone,
  created: status.createdAt.toISOString(),
  finished: status.finishedAt?.toISOString() ?? null,
  expiration: status.expiration.toISOString(),
});
