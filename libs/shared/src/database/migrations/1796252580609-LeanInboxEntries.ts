import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two of the four indexes on inbox_entries, and the foreign key to messages,
 * cost every delivered entry without serving a request:
 * - message ids sort by time (their first 48 bits are the send time, and
 *   `sent` is that time), so the primary key (recipient_xuid, message_id)
 *   already lists an inbox newest first: the page index and the `sent` column
 *   repeat it;
 * - the message index served only the purge and the foreign key's cascade;
 *   the purge now deletes entries by primary key, from the message's
 *   recipient list, in the same transaction as the message.
 * Dropping a column or an index is a catalogue change: instant at any size.
 */
export class LeanInboxEntries1796252580609 implements MigrationInterface {
  name = 'LeanInboxEntries1796252580609';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbox_entries" DROP CONSTRAINT "inbox_entries_message_fk"`);
    await queryRunner.query(`DROP INDEX "public"."inbox_entries_page_idx"`);
    await queryRunner.query(`DROP INDEX "public"."inbox_entries_message_idx"`);
    await queryRunner.query(`ALTER TABLE "inbox_entries" DROP COLUMN "sent"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inbox_entries" ADD "sent" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`UPDATE "inbox_entries" e SET "sent" = m."sent" FROM "messages" m WHERE m."id" = e."message_id"`);
    await queryRunner.query(`ALTER TABLE "inbox_entries" ALTER COLUMN "sent" SET NOT NULL`);
    await queryRunner.query(`CREATE INDEX "inbox_entries_message_idx" ON "inbox_entries" ("message_id") `);
    await queryRunner.query(
      `CREATE INDEX "inbox_entries_page_idx" ON "inbox_entries" ("recipient_xuid", "sent", "message_id") `,
    );
    await queryRunner.query(
      `ALTER TABLE "inbox_entries" ADD CONSTRAINT "inbox_entries_message_fk" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }
}
