import { Injectable } from '@nestjs/common';
import { DataSource, QueryFailedError } from 'typeorm';
import { Database, statement } from '../database/database.service';
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

/** A player a send names, and whether they are on the sender's friends list. */
export interface ResolvedUser {
  xuid: Xuid;
  friend: boolean;
}

/** The statements on request paths, for plan checks. */
export const DIRECTORY_SQL = {
  // Both halves are index lookups: the primary key, and users_gamertag_lower_key
  // probed once per requested gamertag; the friendship is a primary-key probe.
  // `now_ms` is the database's clock, the one clock of a send: its id, its
  // `sent`, its expiry and its quota window all take their time from it (the
  // clock row makes the statement answer even when nobody matched).
  resolveRecipients: statement<
    [sender: Xuid, xuids: readonly Xuid[], gamertags: readonly string[]],
    { now_ms: number; xuid: Xuid | null; requested: string | null; friend: boolean | null }
  >(
    'directory.resolve-recipients',
    `SELECT c.now_ms, n.xuid, n.requested, n.friend
       FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms) AS c
       LEFT JOIN LATERAL (
         SELECT n.xuid, n.requested,
                EXISTS (SELECT 1 FROM friendships f WHERE f.user_xuid = $1::numeric AND f.friend_xuid = n.xuid) AS friend
           FROM (SELECT u.xuid, NULL::text AS requested FROM users u WHERE u.xuid = ANY($2::numeric[])
                 UNION ALL
                 SELECT u.xuid, g.requested
                   FROM unnest($3::text[]) AS g(requested)
                   JOIN users u ON lower(u.gamertag) = lower(g.requested)) AS n
       ) AS n ON true`,
  ),
  findUser: statement<[xuid: Xuid], UserRow>(
    'directory.find-user',
    `SELECT xuid, gamertag, communication FROM users WHERE xuid = $1::numeric`,
  ),
} as const;

/**
 * Users, friendships, blocks and communication settings. Every lookup that
 * serves a send is one statement however many players it names.
 */
@Injectable()
export class DirectoryRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly database: Database,
  ) {}

  /**
   * Everything a send needs to know about the players it names, and the
   * database's time, in one statement: which XUIDs exist, which user each
   * gamertag names (matched case-insensitively and keyed by the text as
   * requested, so case folding stays Postgres's alone), and which of them are
   * on `sender`'s friends list.
   */
  async resolveRecipients(
    sender: Xuid,
    xuids: readonly Xuid[],
    gamertags: readonly string[],
  ): Promise<{ byXuid: Map<Xuid, ResolvedUser>; byGamertag: Map<string, ResolvedUser>; now: number }> {
    const rows = await this.database.rows(DIRECTORY_SQL.resolveRecipients, [sender, xuids, gamertags]);
    const byXuid = new Map<Xuid, ResolvedUser>();
    const byGamertag = new Map<string, ResolvedUser>();
    for (const { xuid, requested, friend } of rows) {
      if (xuid === null) continue;
      const user = { xuid, friend: friend === true };
      if (requested === null) byXuid.set(xuid, user);
      else byGamertag.set(requested, user);
    }
    return { byXuid, byGamertag, now: rows[0].now_ms };
  }

  async findUser(xuid: Xuid): Promise<DirectoryUser | null> {
    const [user] = await this.database.rows(DIRECTORY_SQL.findUser, [xuid]);
    return user ?? null;
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
        `The gamertag "${user.gamertag}" belongs to another user; choose another.`,
      );
    }
  }

  /**
   * Adds a user the first time they are seen with a valid token (docs/api.md,
   * Send a message). Returns false when the XUID exists or the gamertag is held by
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

  /** Which of `xuids` no user has. */
  async missingUsers(xuids: Xuid[]): Promise<Xuid[]> {
    const rows: { xuid: Xuid }[] = await this.dataSource.query(`SELECT xuid FROM users WHERE xuid = ANY($1::numeric[])`, [
      xuids,
    ]);
    const found = new Set(rows.map((row) => row.xuid));
    return xuids.filter((xuid) => !found.has(xuid));
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
