import { Controller, Get, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError, ERRORS } from '@app/shared/errors';
import { UserIdentity } from '@app/shared/tokens';
import { CurrentUser } from '../../auth/current-user.decorator';
import { AuthenticatedRequest, USER_PARAM, UserAuthGuard, UserRoute } from '../../auth/user-auth.guard';
import { headerValues } from '../../http/raw-headers';
import { ApiErrorResponses, INBOX_EVENTS_ERRORS } from '../../openapi/error-responses';
import { CONTRACT_VERSION_HEADER, LAST_EVENT_ID_HEADER, SECURITY, TAG, USER_XUID_PARAM } from '../../openapi/parameters';
import { InboxEvents } from './inbox-events.service';

const LAST_EVENT_ID = 'last-event-id';

/** The caller's inbox as a live stream of Server-Sent Events (docs/api.md, Inbox events). */
@Controller(`users/:${USER_PARAM}/inbox`)
@UseGuards(UserAuthGuard)
@UserRoute(ERRORS.INBOX_XUID_INVALID)
@ApiTags(TAG.inbox)
@ApiBearerAuth(SECURITY.userBearer)
@ApiSecurity(SECURITY.userXbl3)
@ApiParam(USER_XUID_PARAM)
@ApiHeader(CONTRACT_VERSION_HEADER)
export class InboxEventsController {
  constructor(private readonly events: InboxEvents) {}

  @Get('events')
  @ApiOperation({
    operationId: 'streamInboxEvents',
    summary: 'Stream inbox events (Server-Sent Events)',
    description:
      'A `text/event-stream` that stays open: `ready` first (its id is where the stream starts), then `message` for each new ' +
      'entry (data: the item exactly as the listing shows it), `read`, `unread` and `deleted` (data: `{"id":"<message id>"}`) ' +
      'when a device of the same player reads, marks or deletes, a `: heartbeat` comment every INBOX_STREAM_HEARTBEAT_SECONDS, and ' +
      '`closed` (data: `{"reason":"superseded"|"shutdown"}`) before the server ends it. Reconnect with `Last-Event-ID` to ' +
      'receive every message delivered since that event, once each and in delivery order. After `superseded`, do not ' +
      'reconnect: a newer stream of the same player took its place.',
  })
  @ApiHeader(LAST_EVENT_ID_HEADER)
  @ApiOkResponse({
    description: 'The event stream.',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example:
          'retry: 2000\nid: AQRkZXYxAAAAAAAAAAd0o3c0Hh6Jb1fK0p2pHnS_\nevent: ready\ndata: {}\n\n' +
          'id: AQRkZXYxAAAAAAAAAAjHb5vJcN6l7mLx8Fq0yQ2w\nevent: message\ndata: {"header":{"id":"01JV2Z8Q3M4N5P6R7S8T9V0W1X",...},"messageSummary":"gg"}\n\n',
      },
    },
  })
  @ApiErrorResponses(INBOX_EVENTS_ERRORS)
  async stream(
    @CurrentUser() user: UserIdentity,
    @Req() request: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const given = headerValues(request.raw.rawHeaders, LAST_EVENT_ID);
    if (given.length > 1) throw new AppError(ERRORS.EVENT_ID_INVALID, 'Last-Event-ID is given more than once; send it once.');
    const after = given.length === 1 ? this.events.parseLastEventId(user.xuid, given[0].trim()) : undefined;
    const start = await this.events.prepare(user.xuid, after);
    reply.hijack();
    const response = reply.raw;
    const requestId = reply.getHeader('x-request-id');
    response.writeHead(200, {
      ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx (the Ingress) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    response.flushHeaders();
    response.socket?.setNoDelay(true);
    start(response);
  }
}
