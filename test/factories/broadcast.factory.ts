import { Client } from 'pg';
import { ADMIN_HEADERS } from './users.factory';

export interface AdminResponse {
  status: number;
  body: any;
}

/** POST /admin/system-messages with a JSON body (a string is sent as written, for bodies JSON.stringify cannot make). */
export async function postSystemMessage(
  internalUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<AdminResponse> {
  const response = await fetch(`${internalUrl}/admin/system-messages`, {
    method: 'POST',
    headers: { ...ADMIN_HEADERS, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

export async function broadcastRequest(internalUrl: string, method: 'GET' | 'DELETE', id: string): Promise<AdminResponse> {
  const response = await fetch(`${internalUrl}/admin/system-messages/${id}`, { method, headers: ADMIN_HEADERS });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Polls GET until `done(body)` holds; returns that body. */
export async function waitForBroadcast(
  internalUrl: string,
  id: string,
  done: (body: any) => boolean,
  timeoutMs = 45_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await broadcastRequest(internalUrl, 'GET', id);
    if (status === 200 && done(body)) return body;
    if (Date.now() > deadline)
      throw new Error(`broadcast ${id} not there after ${timeoutMs} ms: ${status} ${JSON.stringify(body)}`);
    await new Promise((wake) => setTimeout(wake, 25));
  }
}

/** Direct reads of what a broadcast wrote. */
export class BroadcastRows {
  private constructor(private readonly client: Client) {}

  static async open(url: string): Promise<BroadcastRows> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return new BroadcastRows(client);
  }

  close(): Promise<void> {
    return this.client.end();
  }

  query<T extends object = any>(text: string, values: unknown[] = []): Promise<T[]> {
    return this.client.query<T>(text, values).then((result) => result.rows);
  }

  /** recipient -> entries of this message (an exact delivery has 1 for each). */
  async entriesPerRecipient(messageId: string, recipients: string[]): Promise<Map<string, number>> {
    const rows = await this.query<{ recipient: string; n: number }>(
      `SELECT recipient_xuid AS recipient, count(*)::int AS n FROM inbox_entries
        WHERE recipient_xuid = ANY($1::numeric[]) AND message_id = $2 GROUP BY recipient_xuid`,
      [recipients, messageId],
    );
    return new Map(rows.map((row) => [row.recipient, row.n]));
  }

  async broadcastsWithKey(key: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM broadcasts WHERE idempotency_key = $1`, [
      key,
    ]);
    return row.n;
  }

  async messagesWithText(text: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE text = $1`, [text]);
    return row.n;
  }
}
