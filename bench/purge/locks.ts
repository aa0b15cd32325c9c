/**
 * Who waits on a lock: every 200 ms, the backends of the benchmark's database
 * waiting on a heavyweight lock (pg_stat_activity, wait_event_type 'Lock'),
 * named by the service statement they run (matched on the text's start).
 * A delivery or a read held up by the purge shows here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { DIRECTORY_SQL } from '@app/shared/directory/directory.repository';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { INBOX_SQL } from '../../apps/gateway/src/inbox/inbox.repository';
import { OUTBOX_SQL } from '../../apps/gateway/src/outbox/outbox.repository';

const EVERY_MS = 200;
const PREFIX = 60;

const normalise = (text: string): string => text.replace(/\s+/g, ' ').trim().slice(0, PREFIX);

const KNOWN = new Map<string, string>(
  [DELIVERY_SQL, INBOX_SQL, OUTBOX_SQL, DIRECTORY_SQL]
    .flatMap((statements) => Object.values(statements) as { name: string; text: string }[])
    .map((statement) => [normalise(statement.text), statement.name]),
);

export interface LockSummary {
  samples: number;
  /** Samples in which at least one backend waited on a lock. */
  waiting: number;
  /** Most backends waiting at once. */
  most: number;
  /** Waiting backends summed over the samples, by statement. */
  byStatement: Record<string, number>;
}

export class LockSampler {
  private readonly client: Client;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly summary: LockSummary = { samples: 0, waiting: 0, most: 0, byStatement: {} };

  constructor(databaseUrl: string) {
    this.client = new Client({ connectionString: databaseUrl });
    this.client.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const { rows } = await this.client.query<{ query: string }>(
          `SELECT query FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
        );
        this.summary.samples++;
        if (rows.length > 0) this.summary.waiting++;
        this.summary.most = Math.max(this.summary.most, rows.length);
        for (const { query } of rows) {
          const text = normalise(query);
          const name = KNOWN.get(text) ?? text;
          this.summary.byStatement[name] = (this.summary.byStatement[name] ?? 0) + 1;
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
