/**
 * Sends a system message through the gateway's admin API and shows its
 * progress until it is done (docs/api.md, System messages):
 *   npm run broadcast -- --subject "Patch notes" --text "…" (--all | --to xuids.txt) [--expires <seconds>]
 * --to reads XUIDs from a file, one per line (blank lines and # comments
 * skipped; more than 10,000 are sent as several broadcasts). The gateway's
 * internal URL is ADMIN_URL (default http://127.0.0.1:3004), its token
 * ADMIN_TOKEN (default the development token). Ctrl-C stops watching; the
 * broadcast goes on (cancel it with DELETE /admin/system-messages/{id}).
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEVELOPMENT_ADMIN_TOKEN } from '@app/shared/tokens';

const USAGE =
  'usage: npm run broadcast -- --subject <1..20 characters> --text <1..250 characters> (--all | --to <file of XUIDs>) [--expires <seconds>]';
const MAX_LISTED = 10_000;
const POLL_MS = 500;
const BAR_WIDTH = 30;

interface Broadcast {
  id: string;
  state: 'queued' | 'running' | 'done' | 'cancelled';
  targeted: number;
  delivered: number;
  chunks: number;
  chunksDone: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      subject: { type: 'string' },
      text: { type: 'string' },
      to: { type: 'string' },
      all: { type: 'boolean', default: false },
      expires: { type: 'string' },
    },
  });
  if (values.subject === undefined || values.text === undefined || values.all === (values.to !== undefined)) {
    throw new Error(USAGE);
  }
  const base = (process.env.ADMIN_URL ?? 'http://127.0.0.1:3004').replace(/\/$/, '');
  const token = process.env.ADMIN_TOKEN ?? DEVELOPMENT_ADMIN_TOKEN;
  const lists = values.all ? ['all' as const] : listsOf(readFileSync(values.to!, 'utf8'));
  for (const recipients of lists) {
    const body = {
      subject: values.subject,
      messageText: values.text,
      recipients,
      ...(values.expires === undefined ? {} : { expiresInSeconds: Number(values.expires) }),
    };
    // One key per broadcast: a retry of a POST that timed out cannot send it twice.
    const created = await call<Broadcast>(base, token, 'POST', '/admin/system-messages', body, randomUUID());
    process.stdout.write(`broadcast ${created.id}: ${created.targeted} recipients in ${created.chunks} chunks\n`);
    await watch(base, token, created.id);
  }
}

function listsOf(text: string): string[][] {
  const xuids = text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
  if (xuids.length === 0) throw new Error('the --to file lists no XUIDs');
  const lists: string[][] = [];
  for (let start = 0; start < xuids.length; start += MAX_LISTED) lists.push(xuids.slice(start, start + MAX_LISTED));
  return lists;
}

async function watch(base: string, token: string, id: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const status = await call<Broadcast>(base, token, 'GET', `/admin/system-messages/${id}`);
    const share = status.targeted === 0 ? 1 : Math.min(1, status.delivered / status.targeted);
    const filled = Math.round(share * BAR_WIDTH);
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round(status.delivered / seconds) : 0;
    const line =
      `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(share * 100).toFixed(1).padStart(5)} % ` +
      `${status.delivered}/${status.targeted} entries, chunk ${status.chunksDone}/${status.chunks}, ${rate}/s, ${status.state}`;
    process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
    if (status.state === 'done' || status.state === 'cancelled') {
      if (process.stdout.isTTY) process.stdout.write('\n');
      return;
    }
    await new Promise((wake) => setTimeout(wake, POLL_MS));
  }
}

async function call<T>(base: string, token: string, method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

main().catch((error: Error) => {
  process.stderr.write(`broadcast: ${error.message}\n`);
  process.exit(1);
});
