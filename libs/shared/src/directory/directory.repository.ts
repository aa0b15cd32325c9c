import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { CommunicationSetting } from '../database/entities/user.entity';
import { AppError, ERRORS } from '../errors';
import { Xuid } from '../xuid';
import { DirectoryUser, UpsertOutcome } from './directory.types';

const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';

interface UserRow {
  xuid: Xuid;
  gamertag: string;
  communication: CommunicationSetting;
}

/**
 * Users, friendships, blocks and communication settings. Every lookup that
 * serves a send is one statement however many players it names.
 */
@Injectable()
export class DirectoryRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Users named by XUID or by gamertag (case-insensitive), in one query. */
  async findUsers(
    query: { xuids?: readonly Xuid[]; gamertags?: readonly string[] },
    manager: EntityManager = this.dataSource.manager,
  ): Promise<DirectoryUser[]> {
    const xuids = query.xuids ?? [];
    const gamertags = query.gamertags ?? [];
    if (xuids.length === 0 && gamertags.length === 0) return [];
    const rows: UserRow[] = await manager.query(
      `SELECT xuid, gamertag, communication FROM users
        WHERE xuid = ANY($1::numeric[])
           OR lower(gamertag) = ANY(SELECT lower(g) FROM unnest($2::text[]) AS g)`,
      [xuids, gamertags],
    );
    return rows;
  }

  /**
   * Resolves recipients named by XUID or gamertag in one query. Gamertag
   * matches are keyed by the text as requested, so case folding stays
   * Postgres's alone.
   */
  async lookup(
    xuids: readonly Xuid[],
    gamertags: readonly string[],
  ): Promise<{ byXuid: Map<Xuid, DirectoryUser>; byGamertag: Map<string, DirectoryUser> }> {
    const rows: (UserRow & { requested: string | null })[] = await this.dataSource.query(
      `SELECT xuid, gamertag, communication, NULL AS requested FROM users WHERE xuid = ANY($1::numeric[])
       UNION ALL
       SELECT u.xuid, u.gamertag, u.communication, g.requested
         FROM unnest($2::text[]) AS g(requested)
         JOIN users u ON lower(u.gamertag) = lower(g.requested)`,
      [xuids, gamertags],
    );
    const byXuid = new Map<Xuid, DirectoryUser>();
    const byGamertag = new Map<string, DirectoryUser>();
    for (const { requested, ...user } of rows) {
      if (requested === null) byXuid.set(user.xuid, user);
      else byGamertag.set(requested, user);
    }
    return { byXuid, byGamertag };
  }

  async findUser(xuid: Xuid): Promise<DirectoryUser | null> {
    const [user] = await this.findUsers({ xuids: [xuid] });
    return user ?? null;
  }

  /** Which of `candidates` are on `xuid`'s friends list. */
  async friendsAmong(
    xuid: Xuid,
    candidates: readonly Xuid[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Set<Xuid>> {
    if (candidates.length === 0) return new Set();
    const rows: { friend_xuid: Xuid }[] = await manager.query(
      `SELECT friend_xuid FROM friendships WHERE user_xuid = $1 AND friend_xuid = ANY($2::numeric[])`,
      [xuid, candidates],
    );
    return new Set(rows.map((row) => row.friend_xuid));
  }

  /** Which of `candidates` have `xuid` on their block list. */
  async blockersAmong(
    xuid: Xuid,
    candidates: readonly Xuid[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Set<Xuid>> {
    if (candidates.length === 0) return new Set();
    const rows: { owner_xuid: Xuid }[] = await manager.query(
      `SELECT owner_xuid FROM blocks WHERE owner_xuid = ANY($2::numeric[]) AND blocked_xuid = $1`,
      [xuid, candidates],
    );
    return new Set(rows.map((row) => row.owner_xuid));
  }

  async listFriends(xuid: Xuid): Promise<Xuid[]> {
    const rows: { friend_xuid: Xuid }[] = await this.dataSource.query(
      `SELECT friend_xuid FROM friendships WHERE user_xuid = $1 ORDER BY friend_xuid`,
      [xuid],
    );
    return rows.map((row) => row.friend_xuid);
  }

  async listBlocks(xuid: Xuid): Promise<Xuid[]> {
    const rows: { blocked_xuid: Xuid }[] = await this.dataSource.query(
      `SELECT blocked_xuid FROM blocks WHERE owner_xuid = $1 ORDER BY blocked_xuid`,
      [xuid],
    );
    return rows.map((row) => row.blocked_xuid);
  }

  /**
   * Creates the user, or updates their gamertag and (when given) communication
   * setting. A gamertag another user holds, in any case, is GAMERTAG_TAKEN.
   */
  async upsertUser(user: {
    xuid: Xuid;
    gamertag: string;
    communication?: CommunicationSetting;
  }): Promise<{ outcome: UpsertOutcome; user: DirectoryUser }> {
    try {
      const rows: (UserRow & { inserted: boolean })[] = await this.dataSource.query(
        `INSERT INTO users AS u (xuid, gamertag, communication)
         VALUES ($1, $2, COALESCE($3, 'everyone'))
         ON CONFLICT (xuid) DO UPDATE
            SET gamertag = EXCLUDED.gamertag,
                communication = COALESCE($3, u.communication),
                updated_at = now()
         RETURNING xuid, gamertag, communication, (xmax = 0) AS inserted`,
        [user.xuid, user.gamertag, user.communication ?? null],
      );
      const [{ inserted, ...stored }] = rows;
      const outcome: UpsertOutcome = inserted ? 'created' : 'updated';
      return { outcome, user: stored };
    } catch (error) {
      throw translate(
        error,
        'users_gamertag_lower_key',
        ERRORS.GAMERTAG_TAKEN,
        `The gamertag "${user.gamertag}" belongs to another user.`,
      );
    }
  }

  /**
   * Adds a user the first time they are seen with a valid token (CONTRACT
   * section 6). Returns false when the XUID exists or the gamertag is held by
   * someone else; the existing directory entry always wins.
   */
  async addUserIfAbsent(xuid: Xuid, gamertag: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO users (xuid, gamertag) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING xuid`,
      [xuid, gamertag],
    );
    return rows.length === 1;
  }

  /** Makes two users friends (both directions). Returns false when they already were. */
  async addFriendship(a: Xuid, b: Xuid): Promise<boolean> {
    try {
      const rows: unknown[] = await this.dataSource.query(
        `INSERT INTO friendships (user_xuid, friend_xuid) VALUES ($1, $2), ($2, $1)
         ON CONFLICT DO NOTHING RETURNING user_xuid`,
        [a, b],
      );
      return rows.length > 0;
    } catch (error) {
      throw translate(error, null, ERRORS.USER_NOT_FOUND, 'Both users must exist.');
    }
  }

  /** Returns false when they were not friends. */
  async removeFriendship(a: Xuid, b: Xuid): Promise<boolean> {
    const [, affected]: [unknown, number] = await this.dataSource.query(
      `DELETE FROM friendships WHERE (user_xuid = $1 AND friend_xuid = $2) OR (user_xuid = $2 AND friend_xuid = $1)`,
      [a, b],
    );
    return affected > 0;
  }

  /** `owner` blocks `target`. Returns false when the block existed. */
  async addBlock(owner: Xuid, target: Xuid): Promise<boolean> {
    try {
      const rows: unknown[] = await this.dataSource.query(
        `INSERT INTO blocks (owner_xuid, blocked_xuid) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING owner_xuid`,
        [owner, target],
      );
      return rows.length > 0;
    } catch (error) {
      throw translate(error, null, ERRORS.USER_NOT_FOUND, 'Both users must exist.');
    }
  }

  /** Returns false when there was no such block. */
  async removeBlock(owner: Xuid, target: Xuid): Promise<boolean> {
    const [, affected]: [unknown, number] = await this.dataSource.query(
      `DELETE FROM blocks WHERE owner_xuid = $1 AND blocked_xuid = $2`,
      [owner, target],
    );
    return affected > 0;
  }
}

/** Turns an expected constraint violation into an AppError; anything else is rethrown. */
function translate(
  error: unknown,
  constraint: string | null,
  definition: (typeof ERRORS)[keyof typeof ERRORS],
  message: string,
): unknown {
  if (!(error instanceof QueryFailedError)) return error;
  const driverError = error.driverError as { code?: string; constraint?: string };
  const expectedCode = constraint ? PG_UNIQUE_VIOLATION : PG_FOREIGN_KEY_VIOLATION;
  if (driverError.code === expectedCode && (!constraint || driverError.constraint === constraint)) {
    return new AppError(definition, message);
  }
  return error;
}
