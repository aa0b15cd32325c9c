import { Injectable } from '@nestjs/common';
import { CommunicationSetting } from '@app/shared/database/entities/user.entity';
import { DirectoryRepository, DirectoryUser, UpsertOutcome } from '@app/shared/directory';
import { AppError, ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';

export interface UserDetail {
  user: DirectoryUser;
  friends: Xuid[];
  blocks: Xuid[];
}

@Injectable()
export class AdminService {
  constructor(private readonly directory: DirectoryRepository) {}

  async getUser(xuid: Xuid): Promise<UserDetail> {
    const user = await this.directory.findUser(xuid);
    if (!user) throw new AppError(ERRORS.USER_NOT_FOUND, `No user has XUID ${xuid}.`);
    const [friends, blocks] = await Promise.all([this.directory.listFriends(xuid), this.directory.listBlocks(xuid)]);
    return { user, friends, blocks };
  }

  upsertUser(
    xuid: Xuid,
    gamertag: string,
    communication?: CommunicationSetting,
  ): Promise<{ outcome: UpsertOutcome; user: DirectoryUser }> {
    return this.directory.upsertUser({ xuid, gamertag, communication });
  }

  async befriend(a: Xuid, b: Xuid): Promise<void> {
    assertDistinct(a, b, 'befriend');
    await this.directory.addFriendship(a, b);
  }

  async unfriend(a: Xuid, b: Xuid): Promise<void> {
    await this.directory.removeFriendship(a, b);
  }

  async block(owner: Xuid, target: Xuid): Promise<void> {
    assertDistinct(owner, target, 'block');
    await this.directory.addBlock(owner, target);
  }

  async unblock(owner: Xuid, target: Xuid): Promise<void> {
    await this.directory.removeBlock(owner, target);
  }
}

function assertDistinct(a: Xuid, b: Xuid, verb: string): void {
  if (a === b) throw new AppError(ERRORS.ADMIN_VALIDATION, `Invalid request: a user cannot ${verb} themself.`);
}
