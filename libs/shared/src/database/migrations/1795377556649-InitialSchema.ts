import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole data model. Generated from the entities,
 * then hand-fixed: TypeORM cannot describe the case-insensitive unique index on
 * gamertags, so it is added here.
 */

export class InitialSchema1795377556649 implements MigrationInterface {
    name = 'InitialSchema1795377556649';

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "users" ("xuid" numeric(20,0) NOT NULL, "gamertag" character varying(15) NOT NULL, "communication" character varying(8) NOT NULL DEFAULT 'everyone', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "users_communication_valid" CHECK ("communication" IN ('everyone', 'friends', 'blocked')), CONSTRAINT "users_xuid_range" CHECK ("xuid" >= 1 AND "xuid" <= 18446744073709551615), CONSTRAINT "PK_8fdfa0cb616090ac30aa2793502" PRIMARY KEY ("xuid"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "users_gamertag_lower_key" ON "users" (lower("gamertag"))`);
        await queryRunner.query(`CREATE TABLE "blocks" ("owner_xuid" numeric(20,0) NOT NULL, "blocked_xuid" numeric(20,0) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "blocks_not_self" CHECK ("owner_xuid" <> "blocked_xuid"), CONSTRAINT "PK_5542141c9c2d2236cc79509559d" PRIMARY KEY ("owner_xuid", "blocked_xuid"))`);
        await queryRunner.query(`CREATE TABLE "friendships" ("user_xuid" numeric(20,0) NOT NULL, "friend_xuid" numeric(20,0) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "friendships_not_self" CHECK ("user_xuid" <> "friend_xuid"), CONSTRAINT "PK_3c490d6a7c50cc84837c8ba1d92" PRIMARY KEY ("user_xuid", "friend_xuid"))`);
        await queryRunner.query(`CREATE TABLE "messages" ("id" character varying(50) COLLATE "C" NOT NULL, "sender_xuid" numeric(20,0) NOT NULL, "message_type" character varying(16) NOT NULL DEFAULT 'User', "text" text NOT NULL, "subject" character varying(20), "recipients" numeric(20,0) array NOT NULL, "sent" TIMESTAMP WITH TIME ZONE NOT NULL, "expiration" TIMESTAMP WITH TIME ZONE NOT NULL, "delivered_at" TIMESTAMP WITH TIME ZONE, "request_id" character varying(64), CONSTRAINT "messages_text_not_empty" CHECK (char_length("text") >= 1), CONSTRAINT "messages_sender_xuid_range" CHECK ("sender_xuid" >= 1 AND "sender_xuid" <= 18446744073709551615), CONSTRAINT "PK_18325f38ae6de43878487eff986" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "messages_expiration_idx" ON "messages" ("expiration") `);
        await queryRunner.query(`CREATE INDEX "messages_undelivered_idx" ON "messages" ("sent") WHERE "delivered_at" IS NULL`);
        await queryRunner.query(`CREATE TABLE "idempotency_keys" ("sender_xuid" numeric(20,0) NOT NULL, "key" character varying(255) NOT NULL, "request_hash" character(64) NOT NULL, "status_code" smallint, "response" jsonb, "message_id" character varying(50) COLLATE "C", "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_c712fecf5c54e4a92a261b9f3e2" PRIMARY KEY ("sender_xuid", "key"))`);
        await queryRunner.query(`CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys" ("expires_at") `);
        await queryRunner.query(`CREATE TABLE "inbox_counters" ("recipient_xuid" numeric(20,0) NOT NULL, "total_items" integer NOT NULL DEFAULT '0', CONSTRAINT "inbox_counters_not_negative" CHECK ("total_items" >= 0), CONSTRAINT "PK_63d5e4541f32fd9ca5c25484aa1" PRIMARY KEY ("recipient_xuid"))`);
        await queryRunner.query(`CREATE TABLE "inbox_entries" ("recipient_xuid" numeric(20,0) NOT NULL, "message_id" character varying(50) COLLATE "C" NOT NULL, "sent" TIMESTAMP WITH TIME ZONE NOT NULL, "expiration" TIMESTAMP WITH TIME ZONE NOT NULL, "is_read" boolean NOT NULL DEFAULT false, "sender_xuid" numeric(20,0) NOT NULL, "sender_gamertag" character varying(15) NOT NULL, "message_type" character varying(16) NOT NULL, "summary" character varying(20) NOT NULL, CONSTRAINT "PK_108ab732044f827f4e51905ad5c" PRIMARY KEY ("recipient_xuid", "message_id"))`);
        await queryRunner.query(`CREATE INDEX "inbox_entries_message_idx" ON "inbox_entries" ("message_id") `);
        await queryRunner.query(`CREATE INDEX "inbox_entries_recipient_expiration_idx" ON "inbox_entries" ("recipient_xuid", "expiration") `);
        await queryRunner.query(`CREATE INDEX "inbox_entries_page_idx" ON "inbox_entries" ("recipient_xuid", "sent", "message_id") `);
        await queryRunner.query(`ALTER TABLE "blocks" ADD CONSTRAINT "blocks_owner_fk" FOREIGN KEY ("owner_xuid") REFERENCES "users"("xuid") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "blocks" ADD CONSTRAINT "blocks_blocked_fk" FOREIGN KEY ("blocked_xuid") REFERENCES "users"("xuid") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "friendships" ADD CONSTRAINT "friendships_user_fk" FOREIGN KEY ("user_xuid") REFERENCES "users"("xuid") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "friendships" ADD CONSTRAINT "friendships_friend_fk" FOREIGN KEY ("friend_xuid") REFERENCES "users"("xuid") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "messages" ADD CONSTRAINT "messages_sender_fk" FOREIGN KEY ("sender_xuid") REFERENCES "users"("xuid") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "inbox_entries" ADD CONSTRAINT "inbox_entries_message_fk" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "inbox_entries" DROP CONSTRAINT "inbox_entries_message_fk"`);
        await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "messages_sender_fk"`);
        await queryRunner.query(`ALTER TABLE "friendships" DROP CONSTRAINT "friendships_friend_fk"`);
        await queryRunner.query(`ALTER TABLE "friendships" DROP CONSTRAINT "friendships_user_fk"`);
        await queryRunner.query(`ALTER TABLE "blocks" DROP CONSTRAINT "blocks_blocked_fk"`);
        await queryRunner.query(`ALTER TABLE "blocks" DROP CONSTRAINT "blocks_owner_fk"`);
        await queryRunner.query(`DROP INDEX "public"."inbox_entries_page_idx"`);
        await queryRunner.query(`DROP INDEX "public"."inbox_entries_recipient_expiration_idx"`);
        await queryRunner.query(`DROP INDEX "public"."inbox_entries_message_idx"`);
        await queryRunner.query(`DROP TABLE "inbox_entries"`);
        await queryRunner.query(`DROP TABLE "inbox_counters"`);
        await queryRunner.query(`DROP INDEX "public"."idempotency_keys_expires_at_idx"`);
        await queryRunner.query(`DROP TABLE "idempotency_keys"`);
        await queryRunner.query(`DROP INDEX "public"."messages_undelivered_idx"`);
        await queryRunner.query(`DROP INDEX "public"."messages_expiration_idx"`);
        await queryRunner.query(`DROP TABLE "messages"`);
        await queryRunner.query(`DROP TABLE "friendships"`);
        await queryRunner.query(`DROP TABLE "blocks"`);
        await queryRunner.query(`DROP INDEX "public"."users_gamertag_lower_key"`);
        await queryRunner.query(`DROP TABLE "users"`);
    }
}
