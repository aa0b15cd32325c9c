import { BlockEntity } from './block.entity';
import { BroadcastChunkEntity, BroadcastEntity } from './broadcast.entity';
import { FriendshipEntity } from './friendship.entity';
import { IdempotencyKeyEntity } from './idempotency-key.entity';
import { InboxCounterEntity } from './inbox-counter.entity';
import { InboxEntryEntity } from './inbox-entry.entity';
import { MessageEntity } from './message.entity';
import { UserEntity } from './user.entity';

export * from './block.entity';
export * from './broadcast.entity';
export * from './friendship.entity';
export * from './idempotency-key.entity';
export * from './inbox-counter.entity';
export * from './inbox-entry.entity';
export * from './message.entity';
export * from './user.entity';
export * from './xuid-column';

/** Listed explicitly: globs break under bundling (nestjs/nest#5505). */
export const ENTITIES = [
  UserEntity,
  FriendshipEntity,
  BlockEntity,
  MessageEntity,
  InboxEntryEntity,
  InboxCounterEntity,
  IdempotencyKeyEntity,
  BroadcastEntity,
  BroadcastChunkEntity,
];
