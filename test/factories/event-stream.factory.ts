import { request as httpRequest, IncomingMessage } from 'node:http';
import { Xuid } from '@app/shared/xuid';
import { bearer } from './users.factory';

/** One Server-Sent Event as a client parses it (WHATWG HTML, "Interpreting an event stream"). */
export interface StreamEvent {
  event: string;
  id: string;
  data: string;
}

export interface OpenedStream {
  status: number;
  headers: IncomingMessage['headers'];
  /** Every event so far, in order (comments counted apart). */
  events: StreamEvent[];
  comments: string[];
  /** Resolves with the next event (after those already taken) matching `kind`; rejects after `timeoutMs` or at the end. */
  next(kind?: string, timeoutMs?: number): Promise<StreamEvent>;
  /** Resolves once the server ended the stream. */
  ended: Promise<void>;
  close(): void;
}

export const inboxEventsPath = (xuid: string): string => `/users/xuid(${xuid})/inbox/events`;

/** A raw HTTP client of GET .../inbox/events, with the owner's token unless `headers` say otherwise. */
export async function openEventStream(
  baseUrl: string,
  xuid: Xuid,
  headers?: Record<string, string>,
  path = inboxEventsPath(xuid),
): Promise<OpenedStream> {
  const sent = headers ?? (await bearer(xuid));
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, { headers: { accept: 'text/event-stream', ...sent } }, resolve);
    req.on('error', reject);
    req.end();
  });
  const events: StreamEvent[] = [];
  const comments: string[] = [];
  let taken = 0;
  let waiter: (() => void) | undefined;
  let finished = false;
  let buffer = '';
  let lastId = '';
  const ended = new Promise<void>((resolve) => {
    response.on('close', () => {
      finished = true;
      waiter?.();
      resolve();
    });
  });
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: StreamEvent = { event: 'message', id: lastId, data: '' };
      const data: string[] = [];
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = value;
        if (field === 'id') lastId = event.id = value;
        if (field === 'data') {
          data.push(value);
          isEvent = true;
        }
      }
      if (isEvent) {
        event.data = data.join('\n');
        events.push(event);
      }
    }
    waiter?.();
  });
  if (response.statusCode !== 200) await ended;

  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    events,
    comments,
    ended,
    close: () => response.destroy(),
    async next(kind?: string, timeoutMs = 15_000): Promise<StreamEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (taken < events.length) {
          const event = events[taken++];
          if (kind === undefined || event.event === kind) return event;
        }
        if (finished) throw new Error(`the stream ended before a "${kind ?? 'any'}" event`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no "${kind ?? 'any'}" event within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter = undefined;
      }
    },
  };
}

/** The body of a stream that answered with an error (not 200). */
export async function errorBodyOf(
  baseUrl: string,
  xuid: Xuid,
  headers: Record<string, string>,
  path?: string,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}${path ?? inboxEventsPath(xuid)}`, { headers });
  return { status: response.status, body: await response.json() };
}
