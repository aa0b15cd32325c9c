import { CommunicationSetting } from '../database/entities/user.entity';
import { Xuid } from '../xuid';

export interface DirectoryUser {
  xuid: Xuid;
  /** As the owner registered it (lookups ignore case). */
  gamertag: string;
  communication: CommunicationSetting;
}

export type UpsertOutcome = 'created' | 'updated';
