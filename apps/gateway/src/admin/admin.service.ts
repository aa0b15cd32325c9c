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
    if (!user) throw new AppError(ERRORS.USER_NOT_FOUND, `No user has XUID ${xuid}; create it with PUT /admin/users/${xuid}.`);
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
    await this.naming(this.directory.addFriendship(a, b), [a, b]);
  }

  async unfriend(a: Xuid, b: Xuid): Promise<void> {
    await this.directory.removeFriendship(a, b);
  }

  async block(owner: Xuid, target: Xuid): Promise<void> {
    assertDistinct(owner, target, 'block');
    await this.naming(this.directory.addBlock(owner, target), [owner, target]);
  }

  async unblock(owner: Xuid, target: Xuid): Promise<void> {
    await this.directory.removeBlock(owner, target);
  }

  /** `write`, whose refusal for a missing user is made to say which of the two path XUIDs no user has. */
  private async naming(write: Promise<unknown>, [first, second]: [Xuid, Xuid]): Promise<void> {
    try {
      await write;
    } catch (error) {
      if (!(error instanceof AppError) || error.definition !== ERRORS.USER_NOT_FOUND) throw error;
      const missing = await this.directory.missingUsers([first, second]);
      throw missing.length === 0 ? error : new AppError(ERRORS.USER_NOT_FOUND, missingUsersMessage(missing, first));
    }
  }
}

function missingUsersMessage(missing: Xuid[], first: Xuid): string {
  const place = (xuid: Xuid): string => (xuid === first ? 'the first XUID in the path' : 'the second XUID in the path');
  if (missing.length === 2) {
    return `No user has XUID ${missing[0]} (${place(missing[0])}) or XUID ${missing[1]} (${place(missing[1])}); create both with PUT /admin/users/{xuid} first.`;
  }
  const [xuid] = missing;
  return `No user has XUID ${xuid}, ${place(xuid)}; create it with PUT /admin/users/${xuid} first.`;
}

function assertDistinct(a: Xuid, b: Xuid, verb: string): void {
  if (a === b) {
    throw new AppError(ERRORS.ADMIN_VALIDATION, `Invalid request: a user cannot ${verb} themself; name two different users.`);
  }
}
