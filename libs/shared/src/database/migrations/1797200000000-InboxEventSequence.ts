import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A per-inbox delivery sequence, for the inbox event stream's replay
 * (docs/api.md, Inbox events): delivery takes the next numbers from the
 * inbox's counter row, which it already locks, so within one inbox the
 * numbers follow commit order and an entry numbered n is committed before
 * n + 1 is handed out. A reconnecting stream replays `sequence > n` as a range
 * of the new index. Entries delivered before this migration have no number
 * and are never replayed (they predate every stream). Adding a nullable column
 * and a column with a constant default are catalogue changes; the index is
 * built in the migration's transaction (on a large table, build it
 * CONCURRENTLY by hand first: this statement then finds it).
 */
export class InboxEventSequence1797200000000 implements MigrationInterface {
  name = 'InboxEventSequence1797200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbox_counters" ADD "last_sequence" bigint NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "inbox_entries" ADD "sequence" bigint`);
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "inbox_entries_sequence_idx" ON "inbox_entries" ("recipient_xuid", "sequence") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."inbox_entries_sequence_idx"`);
    await queryRunner.query(`ALTER TABLE "inbox_entries" DROP COLUMN "sequence"`);
    await queryRunner.query(`ALTER TABLE "inbox_counters" DROP COLUMN "last_sequence"`);
  }
}
