/**
 * What the database's backends are doing: every 200 ms, each backend of the
 * benchmark's database that is not idle, named by the service statement it
 * runs (matched on the text's start) and by what it waits for
 * (pg_stat_activity's wait event; `CPU` when none). A sampled profile of
 * database time, and in it the lock waits: a delivery or a read held up by
 * the purge's row locks shows as `Lock:transactionid` / `Lock:tuple`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { DIRECTORY_SQL } from '@app/shared/directory/directory.repository';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { INBOX_SQL } from '../../apps/gateway/src/inbox/inbox.repository';
import { OUTBOX_SQL } from '../../apps/gateway/src/outbox/outbox.repository';

const EVERY_MS = 200;

const normalise = (text: string): string => text.replace(/\s+/g, ' ').trim();

const KNOWN = [DELIVERY_SQL, INBOX_SQL, OUTBOX_SQL, DIRECTORY_SQL]
  .flatMap((statements) => Object.values(statements) as { name: string; text: string }[])
  .map((statement) => ({ name: statement.name, text: normalise(statement.text) }));

const nameOf = (query: string | null): string => {
  if (query === null) return '?';
  // pg_stat_activity keeps the first track_activity_query_size bytes (1024 by default) of a query.
  const text = normalise(query);
  // Exact, or (a long statement cut short by pg_stat_activity) the only one that starts so.
  const known =
    KNOWN.find((statement) => statement.text === text) ??
    (text.length >= 200 ? KNOWN.find((statement) => statement.text.startsWith(text)) : undefined);
  return known?.name ?? (text.length > 40 ? `${text.slice(0, 40)}...` : text);
};

export interface LockSummary {
  samples: number;
  /** Samples in which at least one backend waited on a lock. */
  waiting: number;
  /** Most backends waiting on a lock at once. */
  most: number;
  /** Backends waiting on a lock, summed over the samples, by "statement <- the blocking backend's (last) statement". */
  byStatement: Record<string, number>;
  /** Backends not idle, summed over the samples, by "statement  wait event" (a sampled profile of database time). */
  activity: Record<string, number>;
}

export class LockSampler {
  private readonly client: Client;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly summary: LockSummary = { samples: 0, waiting: 0, most: 0, byStatement: {}, activity: {} };

  constructor(databaseUrl: string) {
    this.client = new Client({ connectionString: databaseUrl });
    this.client.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const { rows } = await this.client.query<{
          query: string;
          state: string;
          wait: string | null;
          lock: boolean;
          blocker: string | null;
        }>(
          `SELECT a.query, a.state, a.wait_event_type || ':' || a.wait_event AS wait, a.wait_event_type = 'Lock' AS lock,
                  CASE WHEN a.wait_event_type = 'Lock'
                       THEN (SELECT b.query FROM pg_stat_activity b WHERE b.pid = (pg_blocking_pids(a.pid))[1]) END AS blocker
             FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state <> 'idle'
              AND a.backend_type = 'client backend'`,
        );
        const s = this.summary;
        s.samples++;
        const locked = rows.filter((row) => row.lock);
        if (locked.length > 0) s.waiting++;
        s.most = Math.max(s.most, locked.length);
        for (const row of rows) {
          const name = nameOf(row.query);
          if (row.lock) {
            const key = `${name} <- ${nameOf(row.blocker)}`;
            s.byStatement[key] = (s.byStatement[key] ?? 0) + 1;
          }
          const doing = row.state === 'active' ? (row.wait ?? 'CPU') : `${row.state}${row.wait ? ` ${row.wait}` : ''}`;
          const key = `${name}  ${doing}`;
          s.activity[key] = (s.activity[key] ?? 0) + 1;
        }
        await sleep(EVERY_MS);
      }
    })();
  }

  async stop(): Promise<LockSummary> {
    this.running = false;
    await this.loop?.catch(() => undefined);
    await this.client.end().catch(() => undefined);
    return this.summary;
  }
}
