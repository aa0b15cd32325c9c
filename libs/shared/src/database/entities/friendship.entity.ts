import { Check, CreateDateColumn, Entity, ManyToOne, JoinColumn, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { UserEntity } from './user.entity';
import { XUID_COLUMN } from './xuid-column';

/** A friendship is mutual: it is stored as two rows, one per direction. */
@Entity('friendships')
@Check('friendships_not_self', `"user_xuid" <> "friend_xuid"`)
export class FriendshipEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'user_xuid' })
  userXuid: Xuid;

  @PrimaryColumn({ ...XUID_COLUMN, name: 'friend_xuid' })
  friendXuid: Xuid;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_xuid', foreignKeyConstraintName: 'friendships_user_fk' })
  user?: UserEntity;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'friend_xuid', foreignKeyConstraintName: 'friendships_friend_fk' })
  friend?: UserEntity;
}
