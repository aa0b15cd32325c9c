import { Check, Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { XUID_CHECK, XUID_COLUMN } from './xuid-column';

export enum CommunicationSetting {
  Everyone = 'everyone',
  Friends = 'friends',
  Blocked = 'blocked',
}

export const COMMUNICATION_SETTINGS = Object.values(CommunicationSetting);

@Entity('users')
@Check('users_xuid_range', XUID_CHECK('xuid'))
@Check('users_communication_valid', `"communication" IN ('everyone', 'friends', 'blocked')`)
// Gamertags are unique regardless of case: a unique index on lower(gamertag),
// created by the migration (TypeORM cannot describe expression indexes).
@Index('users_gamertag_lower_key', { synchronize: false })
export class UserEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'xuid' })
  xuid: Xuid;

  @Column({ type: 'varchar', length: 15 })
  gamertag: string;

  @Column({ type: 'varchar', length: 8, default: CommunicationSetting.Everyone })
  communication: CommunicationSetting;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
