import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { CommunicationSetting } from '../database/entities/user.entity';
import { Xuid } from '../xuid';

const PG_UNIQUE_VIOLATION = '23505';
const GAMERTAG_UNIQUE_INDEX = 'users_gamertag_lower_key';

export interface ImportUserRow {
  xuid: Xuid;
  gamertag: string;
  /** Null keeps an existing user's setting (and means `everyone` for a new one). */
  communication: CommunicationSetting | null;
}

/** Whether a user row was written; rows left as they were are not reported. */
export type ImportUserWrite = 'created' | 'updated';

/** One row's fate when upserted alone; `heldBy` names the gamertag's holder on a clash. */
export type ImportUserOutcome = ImportUserWrite | 'unchanged' | { heldBy: Xuid | null };

export interface ImportPair {
  a: Xuid;
  b: Xuid;
}

/**
 * The set-based statements behind the bulk directory import: each takes a
 * whole batch as arrays (one `unnest`), so a batch is one or two round trips.
 */
@Injectable()
export class DirectoryImportRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Runs `work` in one transaction: one per batch. */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * Creates or updates the batch's users (XUIDs distinct within the batch).
   * Returns the rows written; rows already holding these values are absent.
   * A gamertag clash fails the whole statement ({@link isGamertagClash}).
   */
  async upsertUsers(
    rows: readonly ImportUserRow[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Map<Xuid, ImportUserWrite>> {
    if (rows.length === 0) return new Map();
    // One statement in line order, so a gamertag freed by a rename earlier in
    // the batch can be taken by a later row, and not the other way round. An
    // omitted setting reads the stored one under a row lock, as ON CONFLICT
    // only sees EXCLUDED, which no longer knows the value was omitted.
    const result: { xuid: Xuid; inserted: boolean }[] = await manager.query(
      `INSERT INTO users AS u (xuid, gamertag, communication)
       SELECT t.xuid, t.gamertag,
              COALESCE(t.communication,
                       (SELECT s.communication FROM users s WHERE s.xuid = t.xuid FOR UPDATE),
                       'everyone')
         FROM unnest($1::numeric[], $2::text[], $3::text[]) WITH ORDINALITY AS t(xuid, gamertag, communication, n)
        ORDER BY t.n
       ON CONFLICT (xuid) DO UPDATE
          SET gamertag = EXCLUDED.gamertag, communication = EXCLUDED.communication, updated_at = now()
        WHERE (u.gamertag, u.communication) IS DISTINCT FROM (EXCLUDED.gamertag, EXCLUDED.communication)
       RETURNING xuid, (xmax = 0) AS inserted`,
      [rows.map((row) => row.xuid), rows.map((row) => row.gamertag), rows.map((row) => row.communication)],
    );
    return new Map(result.map((row) => [row.xuid, row.inserted ? 'created' : 'updated']));
  }

  /**
   * Upserts one user inside the caller's transaction behind a savepoint, so a
   * gamertag clash rejects this row only. Returns the clashing holder's XUID on
   * a clash, `unchanged` when the row already held these values.
   */
  async upsertUserAlone(row: ImportUserRow, manager: EntityManager): Promise<ImportUserOutcome> {
    await manager.query('SAVEPOINT import_user');
    try {
      const written = await this.upsertUsers([row], manager);
      await manager.query('RELEASE SAVEPOINT import_user');
      return written.get(row.xuid) ?? 'unchanged';
    } catch (error) {
      if (!isGamertagClash(error)) throw error;
      await manager.query('ROLLBACK TO SAVEPOINT import_user');
      const holders: { xuid: Xuid }[] = await manager.query(
        `SELECT xuid FROM users WHERE lower(gamertag) = lower($1) AND xuid <> $2 LIMIT 1`,
        [row.gamertag, row.xuid],
      );
      return { heldBy: holders[0]?.xuid ?? null };
    }
  }

  /**
   * Which of `xuids` are users, key-share locked until the transaction ends
   * so that none is deleted before the relationships naming it are inserted.
   */
  async lockExistingUsers(xuids: readonly Xuid[], manager: EntityManager): Promise<Set<Xuid>> {
    if (xuids.length === 0) return new Set();
    // One primary-key probe per XUID whatever the statistics say: right after a
    // bulk load they are stale, and `= ANY` then plans a scan of the whole table.
    const rows: { xuid: Xuid }[] = await manager.query(
      `SELECT k.xuid FROM unnest($1::numeric[]) AS t(xuid)
         CROSS JOIN LATERAL (SELECT u.xuid FROM users u WHERE u.xuid = t.xuid FOR KEY SHARE) AS k`,
      [xuids],
    );
    return new Set(rows.map((row) => row.xuid));
  }

  /** Adds each friendship in both directions; returns the rows that were new. */
  async insertFriendships(
    pairs: readonly ImportPair[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<ImportPair[]> {
    if (pairs.length === 0) return [];
    const rows: { user_xuid: Xuid; friend_xuid: Xuid }[] = await manager.query(
      `INSERT INTO friendships (user_xuid, friend_xuid)
       SELECT a, b FROM unnest($1::numeric[], $2::numeric[]) AS t(a, b)
       UNION ALL
       SELECT b, a FROM unnest($1::numeric[], $2::numeric[]) AS t(a, b)
       ON CONFLICT DO NOTHING
       RETURNING user_xuid, friend_xuid`,
      [pairs.map((pair) => pair.a), pairs.map((pair) => pair.b)],
    );
    return rows.map((row) => ({ a: row.user_xuid, b: row.friend_xuid }));
  }

  /** `a` blocks `b` for each pair; returns the blocks that were new. */
  async insertBlocks(pairs: readonly ImportPair[], manager: EntityManager = this.dataSource.manager): Promise<ImportPair[]> {
    if (pairs.length === 0) return [];
    const rows: { owner_xuid: Xuid; blocked_xuid: Xuid }[] = await manager.query(
      `INSERT INTO blocks (owner_xuid, blocked_xuid)
       SELECT a, b FROM unnest($1::numeric[], $2::numeric[]) AS t(a, b)
       ON CONFLICT DO NOTHING
       RETURNING owner_xuid, blocked_xuid`,
      [pairs.map((pair) => pair.a), pairs.map((pair) => pair.b)],
    );
    return rows.map((row) => ({ a: row.owner_xuid, b: row.blocked_xuid }));
  }
}

/** A statement failed because a gamertag is held, in some case, by another user. */
export function isGamertagClash(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: string; constraint?: string };
  return driverError.code === PG_UNIQUE_VIOLATION && driverError.constraint === GAMERTAG_UNIQUE_INDEX;
}
