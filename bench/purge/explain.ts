/**
 * The plans of one purge batch as the service runs it: its own statements
 * (DELIVERY_SQL), prepared with plan_cache_mode=force_generic_plan as the
 * service's connections prepare them, run under EXPLAIN (ANALYZE, BUFFERS) in
 * one transaction that is rolled back; and a first page of an inbox that
 * holds expired entries, under the same generic planning.
 */
import type { ClientBase } from 'pg';
import { PURGE_BATCH } from '../../apps/delivery/src/maintenance.service';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { INBOX_SQL } from '../../apps/gateway/src/inbox/inbox.repository';

const literal = (values: readonly (string | number)[]): string => `'{${values.join(',')}}'`;

export async function explainPurge(db: ClientBase, recipient: string): Promise<string[]> {
  const out: string[] = [];
  let prepared = 0;
  const explain = async (label: string, text: string, args: string): Promise<void> => {
    const name = `bench_explain_${prepared++}`;
    await db.query(`PREPARE ${name} AS ${text}`);
    const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE ${name}(${args})`);
    out.push(`${label}:`, ...rows.map((row) => `  ${row['QUERY PLAN']}`));
  };
  await db.query('BEGIN');
  try {
    await db.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await explain(
      `${INBOX_SQL.firstPage.name} (an inbox with expired entries)`,
      INBOX_SQL.firstPage.text,
      `${recipient}, 26, 0`,
    );
    await explain(DELIVERY_SQL.lockExpired.name, DELIVERY_SQL.lockExpired.text, String(PURGE_BATCH));
    // The same rows again (this transaction's own locks are not skipped), to feed the next statements.
    const { rows: locked } = await db.query<{ id: string; recipients: string[] }>(
      `SELECT id, recipients::text[] AS recipients FROM messages WHERE id = ANY(ARRAY(
         SELECT id FROM messages WHERE expiration <= now() ORDER BY expiration LIMIT $1))`,
      [PURGE_BATCH],
    );
    const ids = locked.map((row) => row.id);
    const perRecipient = new Map<string, number>();
    for (const row of locked) for (const xuid of row.recipients) perRecipient.set(xuid, (perRecipient.get(xuid) ?? 0) + 1);
    const recipients = [...perRecipient.keys()].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
    await explain(DELIVERY_SQL.deleteEntries.name, DELIVERY_SQL.deleteEntries.text, literal(ids));
    await explain(DELIVERY_SQL.lockCounters.name, DELIVERY_SQL.lockCounters.text, literal(recipients));
    await explain(
      DELIVERY_SQL.decrementCounters.name,
      DELIVERY_SQL.decrementCounters.text,
      `${literal(recipients)}, ${literal(recipients.map((xuid) => perRecipient.get(xuid) as number))}, ${literal(recipients.map(() => 0))}`,
    );
    await explain(DELIVERY_SQL.deleteMessages.name, DELIVERY_SQL.deleteMessages.text, literal(ids));
  } finally {
    await db.query('ROLLBACK');
    await db.query('DEALLOCATE ALL');
  }
  return out;
}
