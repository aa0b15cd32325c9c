import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Unread entries per inbox, kept beside total_items in the same statements, so
 * `GET .../inbox/summary` answers unreadItems without counting the inbox.
 * - Adding a NOT NULL column with a constant default is a catalogue change:
 *   instant at any size.
 * - The backfill is one pass over inbox_entries, grouped per inbox, writing
 *   only the counters of inboxes that hold unread entries. The entries are
 *   locked against writes (SHARE) for that pass, so no delivery, read or
 *   delete commits between the count and the write: the counts are exact at
 *   commit. Reads of the inbox go on meanwhile.
 * - Like total_items, unread_items counts entries past their expiration that
 *   the purge has not removed yet; readers subtract those.
 * - Only `>= 0` is checked, not `<= total_items`: the previous release's code,
 *   which moves total_items alone, must keep working on this schema (rollback).
 */
export class InboxUnreadCounter1797000000000 implements MigrationInterface {
  name = 'InboxUnreadCounter1797000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbox_counters" ADD "unread_items" integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`LOCK TABLE "inbox_entries" IN SHARE MODE`);
    await queryRunner.query(
      `UPDATE "inbox_counters" c SET "unread_items" = u.n
         FROM (SELECT "recipient_xuid", count(*)::int AS n FROM "inbox_entries" WHERE NOT "is_read" GROUP BY "recipient_xuid") u
        WHERE c."recipient_xuid" = u."recipient_xuid"`,
    );
    await queryRunner.query(
      `ALTER TABLE "inbox_counters" ADD CONSTRAINT "inbox_counters_unread_not_negative" CHECK ("unread_items" >= 0)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbox_counters" DROP CONSTRAINT "inbox_counters_unread_not_negative"`);
    await queryRunner.query(`ALTER TABLE "inbox_counters" DROP COLUMN "unread_items"`);
  }
}
