import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * System messages and broadcasts (docs/api.md, System messages): a
 * `broadcasts` row per system message (same id as its `messages` row, which
 * keeps the text, expiration and purge), and its recipients as chunks, each
 * written by one statement. A system message has no sender in the directory,
 * so `messages.sender_xuid` becomes nullable, for non-User messages only.
 * Generated from the entities; the generator's drop and re-add of
 * messages_sender_fk (unchanged) is left out, as it would scan messages.
 */
export class SystemMessages1797100000000 implements MigrationInterface {
    name = 'SystemMessages1797100000000';

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "broadcasts" ("id" character varying(50) COLLATE "C" NOT NULL, "subject" character varying(20) NOT NULL, "sender_xuid" numeric(20,0) NOT NULL, "sender_gamertag" character varying(15) NOT NULL, "audience" character varying(4) NOT NULL, "state" character varying(9) NOT NULL DEFAULT 'queued', "targeted" integer NOT NULL, "chunks" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP WITH TIME ZONE, "idempotency_key" character varying(255), "request_hash" character(64), CONSTRAINT "broadcasts_audience_valid" CHECK ("audience" IN ('list', 'all')), CONSTRAINT "broadcasts_state_valid" CHECK ("state" IN ('queued', 'running', 'done', 'cancelled')), CONSTRAINT "PK_b0586900034d0726bbdcb1b21b2" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "broadcasts_idempotency_key" ON "broadcasts" ("idempotency_key") `);
        await queryRunner.query(`CREATE INDEX "broadcasts_unfinished_idx" ON "broadcasts" ("created_at") WHERE "state" IN ('queued', 'running')`);
        await queryRunner.query(`CREATE TABLE "broadcast_chunks" ("broadcast_id" character varying(50) COLLATE "C" NOT NULL, "chunk" integer NOT NULL, "first_xuid" numeric(20,0), "last_xuid" numeric(20,0), "xuids" numeric(20,0) array, "targeted" integer NOT NULL, "written" integer, "done_at" TIMESTAMP WITH TIME ZONE, "purged_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "broadcast_chunks_one_form" CHECK (("xuids" IS NULL) <> ("first_xuid" IS NULL AND "last_xuid" IS NULL)), CONSTRAINT "PK_7d55f5ca7c3d4a53c6b8a37e42b" PRIMARY KEY ("broadcast_id", "chunk"))`);
        await queryRunner.query(`ALTER TABLE "messages" ALTER COLUMN "sender_xuid" DROP NOT NULL`);
        await queryRunner.query(`ALTER TABLE "messages" ADD CONSTRAINT "messages_user_has_sender" CHECK ("sender_xuid" IS NOT NULL OR "message_type" <> 'User')`);
        await queryRunner.query(`ALTER TABLE "broadcasts" ADD CONSTRAINT "broadcasts_message_fk" FOREIGN KEY ("id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "broadcast_chunks" ADD CONSTRAINT "broadcast_chunks_broadcast_fk" FOREIGN KEY ("broadcast_id") REFERENCES "broadcasts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "broadcast_chunks" DROP CONSTRAINT "broadcast_chunks_broadcast_fk"`);
        await queryRunner.query(`ALTER TABLE "broadcasts" DROP CONSTRAINT "broadcasts_message_fk"`);
        await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "messages_user_has_sender"`);
        await queryRunner.query(`ALTER TABLE "messages" ALTER COLUMN "sender_xuid" SET NOT NULL`);
        await queryRunner.query(`DROP TABLE "broadcast_chunks"`);
        await queryRunner.query(`DROP INDEX "public"."broadcasts_unfinished_idx"`);
        await queryRunner.query(`DROP INDEX "public"."broadcasts_idempotency_key"`);
        await queryRunner.query(`DROP TABLE "broadcasts"`);
    }
}
