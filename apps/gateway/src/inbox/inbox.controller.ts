import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Put,
  Query,
  UseGuards,
} from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import {
  ApiBearerAuth,
  ApiBody,
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
import {
  ApiErrorResponses,
  BATCH_ERRORS,
  DELETE_MESSAGE_ERRORS,
  INBOX_SUMMARY_ERRORS,
  LIST_INBOX_ERRORS,
  READ_MESSAGE_ERRORS,
  READ_STATE_ERRORS,
} from '../openapi/error-responses';
import {
  BATCH_BODY,
  CONTINUATION_TOKEN_QUERY,
  CONTRACT_VERSION_HEADER,
  MAX_ITEMS_QUERY,
  MESSAGE_ID_PARAM,
  READ_STATE_BODY,
  SECURITY,
  SKIP_ITEMS_QUERY,
  TAG,
  USER_XUID_PARAM,
} from '../openapi/parameters';
import { ref } from '../openapi/schemas';
import { responseSchema } from '../http/response-schema';
import { InboxPageResponse, MessageDetailResponse, toInboxPage, toMessageDetail } from './dto/inbox.response';
import { InboxSummary } from './inbox.repository';
import { InboxPageRequest, InboxService } from './inbox.service';
import { MESSAGE_ID, parseBatchRequest, parseReadStateRequest } from './batch-request';

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

  // A static segment: find-my-way tries it before `:messageId`, and no message id is "summary" (ids are the service's).
  @Get('summary')
  @Header('Cache-Control', 'no-store')
  @RouteSchema({ response: { 200: responseSchema('InboxSummary') } })
  @ApiOperation({
    operationId: 'inboxSummary',
    summary: 'Count the messages and the unread ones',
    description:
      'The number of unexpired messages in the inbox (the `totalItems` of a listing) and how many of them are unread, ' +
      'exact at the time of the request, at the same cost whatever the size of the inbox.',
  })
  @ApiOkResponse({ description: 'The counts.', schema: ref('InboxSummary') })
  @ApiErrorResponses(INBOX_SUMMARY_ERRORS)
  summary(@CurrentUser() user: UserIdentity): Promise<InboxSummary> {
    return this.inbox.summary(user.xuid);
  }

  @Post('batch')
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  @RouteSchema({ response: { 200: responseSchema('InboxBatchResult') } })
  @ApiOperation({
    operationId: 'inboxBatch',
    summary: 'Delete, or mark read or unread, up to 100 messages',
    description:
      'Applies one action to 1..100 messages of the inbox in one step. Idempotent: ids this inbox does not have are ' +
      'ignored (as a single delete ignores them; marks also pass over expired messages), and `changedIds` lists only ' +
      'the messages whose state this call changed, so a repeat answers `[]`.',
  })
  @ApiBody(BATCH_BODY)
  @ApiOkResponse({ description: 'Done; the ids whose state changed.', schema: ref('InboxBatchResult') })
  @ApiErrorResponses(BATCH_ERRORS)
  async batch(@CurrentUser() user: UserIdentity, @Body() body: unknown): Promise<{ changedIds: string[] }> {
    return { changedIds: await this.inbox.applyBatch(user.xuid, parseBatchRequest(body)) };
  }

  @Put(':messageId/read-state')
  @HttpCode(HttpStatus.NO_CONTENT)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'setReadState',
    summary: 'Mark a message read or unread (idempotent)',
    description:
      'Sets `isRead` of one message without fetching it. Setting the state it already has changes nothing and is ' +
      '204 as well. A message this inbox does not have, or that has expired, is 404, as reading it is.',
  })
  @ApiParam(MESSAGE_ID_PARAM)
  @ApiBody(READ_STATE_BODY)
  @ApiNoContentResponse({ description: 'The message now has this read state.' })
  @ApiErrorResponses(READ_STATE_ERRORS)
  async setReadState(
    @CurrentUser() user: UserIdentity,
    @Param('messageId') messageId: string,
    @Body() body: unknown,
  ): Promise<void> {
    const id = parseMessageId(messageId);
    await this.inbox.setReadState(user.xuid, id, parseReadStateRequest(body));
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
  async remove(@CurrentUser() user: UserIdentity, @Param('messageId') messageId: string): Promise<void> {
    await this.inbox.deleteMessage(user.xuid, parseMessageId(messageId));
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
