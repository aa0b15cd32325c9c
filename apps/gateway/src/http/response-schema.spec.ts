import Fastify from 'fastify';
import { toInboxPage, toMessageDetail } from '../inbox/dto/inbox.response';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { parseXuid, Xuid } from '@app/shared/xuid';
import { SchemaName } from '../openapi/schemas';
import { responseSchema } from './response-schema';

/** The body Fastify writes for `value` on a route with the schema, as the gateway's routes have it. */
async function served(name: SchemaName, value: unknown): Promise<string> {
  const app = Fastify();
  app.get('/', { schema: { response: { 200: responseSchema(name) } } }, () => Promise.resolve(value));
  const response = await app.inject({ method: 'GET', url: '/' });
  await app.close();
  expect(response.statusCode).toBe(200);
  return response.body;
}

describe('responseSchema', () => {
  const entry = {
    messageId: '01HZX3K5Q8M4V7T2N9B6C1D0EF',
    isRead: false,
    expirationMillis: '1800000000000',
    messageType: MessageType.User,
    senderXuid: parseXuid('18446744073709551615') as Xuid,
    sender: 'Striker',
    summary: 'first 20 chars 😀',
  };

  it('should inline every reference and keep no documentation keywords', () => {
    const text = JSON.stringify(responseSchema('InboxPage'));
    expect(text).not.toContain('$ref');
    expect(text).not.toContain('"example"');
    expect(text).not.toContain('"description"');
  });

  it('should serialize an inbox page to exactly what JSON.stringify writes', async () => {
    const page = toInboxPage({ entries: [entry, { ...entry, isRead: true }], continuationToken: null, totalItems: 2 });
    expect(await served('InboxPage', page)).toBe(JSON.stringify(page));
    const next = toInboxPage({ entries: [], continuationToken: 'abc', totalItems: 0 });
    expect(await served('InboxPage', next)).toBe(JSON.stringify(next));
  });

  it('should serialize a message detail, with its null attachment properties, to what JSON.stringify writes', async () => {
    const detail = toMessageDetail({ ...entry, text: 'the "whole" text\n😀', markedRead: true });
    expect(await served('MessageDetail', detail)).toBe(JSON.stringify(detail));
  });
});
