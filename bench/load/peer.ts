/**
 * The minimal peer: bare Fastify and node-postgres doing the least a send and
 * a page need, as the floor the gateway is compared to. No auth, no quota, no
 * queue, no logging.
 * - POST /users/xuid({xuid})/outbox parses the same JSON body and runs the
 *   service's own INSERT into messages (OUTBOX_SQL.insertMessage, prepared).
 * - GET /users/xuid({xuid})/inbox?maxItems=N runs the service's page query
 *   (INBOX_SQL.firstPage, limit N + 1, prepared) and serialises the page in
 *   the contract's shape with JSON.stringify.
 * Run as its own process: PORT, DATABASE_URL, DATABASE_POOL_SIZE, MESSAGE_TTL_SECONDS.
 */
import Fastify from 'fastify';
import { Pool, QueryConfig } from 'pg';
import { GENERIC_PLANS } from '@app/shared/database/database.options';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { toInboxItem } from '../../apps/gateway/src/inbox/dto/inbox.response';
import { INBOX_SQL, InboxListEntry } from '../../apps/gateway/src/inbox/inbox.repository';
import { OUTBOX_SQL } from '../../apps/gateway/src/outbox/outbox.repository';

interface SendBody {
  header?: { recipients?: { xuid?: string | number }[] };
  messageText?: string;
}

const USER_SEGMENT = /^xuid\((\d+)\)$/;

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  const ttlMs = Number(process.env.MESSAGE_TTL_SECONDS ?? 2_592_000) * 1000;
  // Connections set up as the gateway's (generic plans for prepared statements).
  const pool = new Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
    options: GENERIC_PLANS,
  });
  const nextId = messageIdFactory();
  const app = Fastify({ logger: false });
  const prepared = (statement: { name: string; text: string }, values: unknown[]): QueryConfig => ({
    name: statement.name,
    text: statement.text,
    values,
  });
  const xuidOf = (segment: string): string | null => USER_SEGMENT.exec(segment)?.[1] ?? null;

  app.post<{ Params: { user: string }; Body: SendBody }>('/users/:user/outbox', async (request, reply) => {
    const sender = xuidOf(request.params.user);
    const recipients = request.body?.header?.recipients;
    const text = request.body?.messageText;
    if (sender === null || !Array.isArray(recipients) || typeof text !== 'string') return reply.code(400).send();
    const id = nextId();
    const sent = new Date(sentOfMessageId(id));
    await pool.query(
      prepared(OUTBOX_SQL.insertMessage, [
        id,
        sender,
        MessageType.User,
        text,
        recipients.map((recipient) => String(recipient.xuid)),
        sent,
        new Date(sent.getTime() + ttlMs),
        request.id,
      ]),
    );
    return reply.code(200).send();
  });

  app.get<{ Params: { user: string }; Querystring: { maxItems?: string } }>('/users/:user/inbox', async (request, reply) => {
    const owner = xuidOf(request.params.user);
    const maxItems = Number(request.query.maxItems ?? 25);
    if (owner === null || !(maxItems >= 1 && maxItems <= 100)) return reply.code(400).send();
    const { rows } = await pool.query<InboxListEntry & { totalItems: number }>(
      prepared(INBOX_SQL.firstPage, [owner, maxItems + 1, 0]),
    );
    const entries = rows[0].messageId === null ? [] : rows;
    return reply.header('cache-control', 'no-store').send({
      // The gateway's own mapping to the contract's shape; serialised with JSON.stringify.
      results: entries.slice(0, maxItems).map(toInboxItem),
      pagingInfo: { continuationToken: entries.length > maxItems ? 'more' : null, totalItems: rows[0].totalItems },
    });
  });

  app.get('/readyz', async () => {
    await pool.query('SELECT 1');
    return { status: 'ready' };
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void app
        .close()
        .then(() => pool.end())
        .finally(() => process.exit(0));
    });
  }
  await app.listen({ port, host: '127.0.0.1' });
}

main().catch((error: unknown) => {
  process.stderr.write(`peer: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
