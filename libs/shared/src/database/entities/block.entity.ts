import { Check, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { UserEntity } from './user.entity';
import { XUID_COLUMN } from './xuid-column';

/** `ownerXuid` has `blockedXuid` on their block (avoid) list. */
@Entity('blocks')
@Check('blocks_not_self', `"owner_xuid" <> "blocked_xuid"`)
export class BlockEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'owner_xuid' })
  ownerXuid: Xuid;

  @PrimaryColumn({ ...XUID_COLUMN, name: 'blocked_xuid' })
  blockedXuid: Xuid;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_xuid', foreignKeyConstraintName: 'blocks_owner_fk' })
  owner?: UserEntity;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'blocked_xuid', foreignKeyConstraintName: 'blocks_blocked_fk' })
  blocked?: UserEntity;
}
