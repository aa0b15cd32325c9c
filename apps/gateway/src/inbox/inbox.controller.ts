import { Controller, Delete, Get, Header, HttpCode, HttpStatus, Param, Query, UseGuards } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import { AppError, ERRORS, quotedValue } from '@app/shared/errors';
import { UserIdentity } from '@app/shared/tokens';
import { CurrentUser } from '../auth/current-user.decorator';
import { USER_PARAM, UserAuthGuard, UserRoute } from '../auth/user-auth.guard';
import { ApiErrorResponses, DELETE_MESSAGE_ERRORS, LIST_INBOX_ERRORS, READ_MESSAGE_ERRORS } from '../openapi/error-responses';
import {
  CONTINUATION_TOKEN_QUERY,
  CONTRACT_VERSION_HEADER,
  MAX_ITEMS_QUERY,
  MESSAGE_ID_PARAM,
  SECURITY,
  SKIP_ITEMS_QUERY,
  TAG,
  USER_XUID_PARAM,
} from '../openapi/parameters';
import { ref } from '../openapi/schemas';
import { responseSchema } from '../http/response-schema';
import { InboxPageResponse, MessageDetailResponse, toInboxPage, toMessageDetail } from './dto/inbox.response';
import { InboxPageRequest, InboxService } from './inbox.service';

const MESSAGE_ID = /^[A-Za-z0-9_-]{1,50}$/;
const DIGITS = /^[0-9]+$/;

/** Reading the caller's own inbox (docs/api.md, List the inbox). Nothing here may be cached. */
@Controller(`users/:${USER_PARAM}/inbox`)
@UseGuards(UserAuthGuard)
@UserRoute(ERRORS.INBOX_XUID_INVALID)
@ApiTags(TAG.inbox)
@ApiBearerAuth(SECURITY.userBearer)
@ApiSecurity(SECURITY.userXbl3)
@ApiParam(USER_XUID_PARAM)
@ApiHeader(CONTRACT_VERSION_HEADER)
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  @RouteSchema({ response: { 200: responseSchema('InboxPage') } })
  @ApiOperation({
    operationId: 'listInbox',
    summary: 'List the inbox, newest first',
    description:
      "One page of the caller's unexpired messages, newest first (by `sent`, ties by id). Page on with " +
      '`pagingInfo.continuationToken` until it is null. An empty inbox is 200 with `results: []` and `totalItems: 0`.',
  })
  @ApiQuery(MAX_ITEMS_QUERY)
  @ApiQuery(SKIP_ITEMS_QUERY)
  @ApiQuery(CONTINUATION_TOKEN_QUERY)
  @ApiOkResponse({ description: 'A page of the inbox.', schema: ref('InboxPage') })
  @ApiErrorResponses(LIST_INBOX_ERRORS)
  async list(@CurrentUser() user: UserIdentity, @Query() query: Record<string, unknown>): Promise<InboxPageResponse> {
    return toInboxPage(await this.inbox.listPage(user.xuid, parsePageRequest(query)));
  }

  @Get(':messageId')
  @Header('Cache-Control', 'no-store')
  @RouteSchema({ response: { 200: responseSchema('MessageDetail') } })
  @ApiOperation({
    operationId: 'readMessage',
    summary: 'Read a message (marks it read)',
    description: 'Returns the whole message and marks it read: `isRead` is true in later listings.',
  })
  @ApiParam(MESSAGE_ID_PARAM)
  @ApiOkResponse({ description: 'The whole message.', schema: ref('MessageDetail') })
  @ApiErrorResponses(READ_MESSAGE_ERRORS)
  async read(@CurrentUser() user: UserIdentity, @Param('messageId') messageId: string): Promise<MessageDetailResponse> {
    return toMessageDetail(await this.inbox.readMessage(user.xuid, parseMessageId(messageId)));
  }

  @Delete(':messageId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'deleteMessage',
    summary: 'Delete a message (idempotent)',
    description: "Deletes the message from the caller's inbox. A message that is already absent is 204 as well.",
  })
  @ApiParam(MESSAGE_ID_PARAM)
  @ApiNoContentResponse({ description: 'Deleted, or was already absent.' })
  @ApiErrorResponses(DELETE_MESSAGE_ERRORS)
  remove(@CurrentUser() user: UserIdentity, @Param('messageId') messageId: string): Promise<void> {
    return this.inbox.deleteMessage(user.xuid, parseMessageId(messageId));
  }
}

function parsePageRequest(query: Record<string, unknown>): InboxPageRequest {
  const continuationToken = singleValue(query, 'continuationToken');
  return {
    maxItems: integerParameter(query, 'maxItems', 1, 100, 25),
    // Not even validated when a token is present: the original service ignores it then.
    skipItems: continuationToken === undefined ? integerParameter(query, 'skipItems', 0, 100, 0) : 0,
    continuationToken,
  };
}

function integerParameter(query: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const text = singleValue(query, name);
  if (text === undefined) return fallback;
  if (!DIGITS.test(text)) {
    throw parameterError(
      `${name} must be an integer from ${min} to ${max} written in decimal digits; got ${quotedValue(text)}.`,
    );
  }
  const value = Number(text);
  if (value < min || value > max) throw parameterError(`${name} must be from ${min} to ${max}; got ${quotedValue(text)}.`);
  return value;
}

function singleValue(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || typeof value === 'string') return value;
  throw parameterError(`${name} is given more than once; give it once.`);
}

const parameterError = (message: string): AppError => new AppError(ERRORS.INBOX_PARAMETER_INVALID, message);

/** A malformed id is 404, like a missing message: the id names a resource that cannot exist. */
function parseMessageId(messageId: string): string {
  if (!MESSAGE_ID.test(messageId)) throw new AppError(ERRORS.MESSAGE_ID_INVALID);
  return messageId;
}
