/**
 * One client process of the streams benchmark (forked by main.ts; one request
 * per IPC message): holds thousands of raw TCP connections, each a GET
 * .../inbox/events, and notes when each `message` event arrives. Raw sockets,
 * not an HTTP client, so 2,500 streams cost this process little. Each event is
 * one write on the gateway, so one chunk of the chunked body: the scan looks
 * for the event's text and needs no chunk framing.
 */
import { connect, Socket } from 'node:net';

export type ClientRequest =
  | { op: 'open'; port: number; streams: { xuid: string; token: string }[]; concurrency: number }
  | { op: 'collect' }
  | { op: 'close' };

export type ClientReply =
  | { opened: number; refused: number; seconds: number }
  | { received: [messageId: string, atMs: number][]; open: number; endedEarly: number };

const MESSAGE = 'event: message\ndata: {"header":{"id":"';
const sockets: Socket[] = [];
let received: [string, number][] = [];
let open = 0;
let endedEarly = 0;

function openOne(port: number, xuid: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let ready = false;
    socket.setEncoding('latin1');
    socket.once('connect', () =>
      socket.write(
        `GET /users/xuid(${xuid})/inbox/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
          'Accept: text/event-stream\r\n\r\n',
      ),
    );
    socket.on('data', (chunk: string) => {
      const at = Date.now();
      text += chunk;
      if (!ready) {
        if (!text.includes('\r\n\r\n')) return;
        if (!text.startsWith('HTTP/1.1 200')) {
          socket.destroy();
          resolve(false);
          return;
        }
        if (!text.includes('event: ready')) return;
        ready = true;
        open++;
        sockets.push(socket);
        resolve(true);
      }
      let index: number;
      while ((index = text.indexOf(MESSAGE)) >= 0) {
        const start = index + MESSAGE.length;
        const end = text.indexOf('"', start);
        if (end < 0) break;
        received.push([text.slice(start, end), at]);
        text = text.slice(end);
      }
      // Keep only what could begin an event split across packets.
      if (text.length > 4096) text = text.slice(-512);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (ready) {
        open--;
        endedEarly++;
      } else resolve(false);
    });
  });
}

async function handle(request: ClientRequest): Promise<ClientReply> {
  switch (request.op) {
    case 'open': {
      const started = Date.now();
      let next = 0;
      let opened = 0;
      let refused = 0;
      await Promise.all(
        Array.from({ length: request.concurrency }, async () => {
          while (next < request.streams.length) {
            const { xuid, token } = request.streams[next++];
            if (await openOne(request.port, xuid, token)) opened++;
            else refused++;
          }
        }),
      );
      return { opened, refused, seconds: (Date.now() - started) / 1000 };
    }
    case 'collect': {
      const out = received;
      received = [];
      return { received: out, open, endedEarly };
    }
    case 'close':
      for (const socket of sockets.splice(0)) {
        socket.removeAllListeners('close');
        socket.destroy();
      }
      return { received: [], open: 0, endedEarly };
  }
}

process.on('message', (request: ClientRequest) => {
  handle(request).then(
    (value) => process.send!({ ok: true, value }),
    (error: Error) => process.send!({ ok: false, error: error.message }),
  );
});
