import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { serializeRequest, serializeResponse } from './logging.module';

describe('request log serializers', () => {
  it('should keep the id, method and path, and drop the query, headers and body', () => {
    const request = new IncomingMessage(new Socket()) as IncomingMessage & { id?: string; body?: unknown };
    request.method = 'GET';
    request.url = '/users/xuid(2533274790412952)/inbox?continuationToken=secret-token&maxItems=5';
    request.headers = { authorization: 'Bearer secret-jwt', cookie: 'c=1' };
    request.id = 'req-1';
    request.body = { messageText: 'private words' };
    const line = JSON.stringify(serializeRequest(request));
    expect(JSON.parse(line)).toEqual({ id: 'req-1', method: 'GET', url: '/users/xuid(2533274790412952)/inbox' });
    expect(line).not.toMatch(/secret|private|cookie/);
  });

  it('should keep only the status code of a response', () => {
    const response = new ServerResponse(new IncomingMessage(new Socket()));
    response.statusCode = 404;
    response.setHeader('set-cookie', 'secret');
    expect(serializeResponse(response)).toEqual({ statusCode: 404 });
  });
});
