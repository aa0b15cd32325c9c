import { CommunicationSetting } from '@app/shared/database/entities/user.entity';
import { DirectoryUser } from '@app/shared/directory';

export interface UserResponse {
  xuid: string;
  gamertag: string;
  communication: CommunicationSetting;
}

export interface UserDetailResponse extends UserResponse {
  friends: string[];
  blocks: string[];
}

export const toUserResponse = (user: DirectoryUser): UserResponse => ({
  xuid: user.xuid,
  gamertag: user.gamertag,
  communication: user.communication,
});
