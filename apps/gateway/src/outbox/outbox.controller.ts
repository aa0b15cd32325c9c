import { Body, Controller, Get, Header, HttpCode, HttpStatus, Post, Req, UseGuards } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import {
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { QuotaLimit, QuotaLimitsResult, QuotaLimitStanding } from '@app/shared/contracts';
import { ERRORS } from '@app/shared/errors';
import { UserIdentity } from '@app/shared/tokens';
import { CurrentUser } from '../auth/current-user.decorator';
import { UserAuthGuard, UserRoute } from '../auth/user-auth.guard';
import { headerValues } from '../http/raw-headers';
import { ApiErrorResponses, SEND_LIMITS_ERRORS, SEND_MESSAGE_ERRORS } from '../openapi/error-responses';
import { ref } from '../openapi/schemas';
import { responseSchema } from '../http/response-schema';
import {
  CONTRACT_VERSION_HEADER,
  IDEMPOTENCY_KEY_HEADER,
  SECURITY,
  SEND_MESSAGE_BODY,
  TAG,
  USER_XUID_PARAM,
} from '../openapi/parameters';
import { GatewayMetrics } from '../gateway.metrics';
import { IdempotencyService } from './idempotency.service';
import { OutboxService } from './outbox.service';

@Controller('users/:user/outbox')
@UseGuards(UserAuthGuard)
@UserRoute(ERRORS.SENDER_XUID_INVALID)
@ApiTags(TAG.outbox)
@ApiBearerAuth(SECURITY.userBearer)
@ApiSecurity(SECURITY.userXbl3)
@ApiParam(USER_XUID_PARAM)
export class OutboxController {
  constructor(
    private readonly outbox: OutboxService,
    private readonly idempotency: IdempotencyService,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** 200 with an empty body once the message is durably accepted. */
  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'sendMessage',
    summary: 'Send a message',
    description:
      'Sends a message to 1..20 recipients named by XUID or gamertag. The sender must be gold. Accepted only if every ' +
      'rolling-window limit still holds afterwards; the message is stored durably before 200 and delivered to each ' +
      "distinct recipient's inbox asynchronously. Recipients who block the sender, or whose privacy setting refuses " +
      'the sender, silently receive nothing: the sender still gets 200.',
  })
  @ApiHeader(CONTRACT_VERSION_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiBody(SEND_MESSAGE_BODY)
  @ApiOkResponse({ description: 'Accepted, with an empty body: the message is durably stored and will be delivered.' })
  @ApiErrorResponses(SEND_MESSAGE_ERRORS)
  async send(@CurrentUser() sender: UserIdentity, @Body() body: unknown, @Req() request: FastifyRequest): Promise<void> {
    // Node joins a repeated Idempotency-Key into one value: pass each, so a repeat is refused as such.
    const keys = headerValues(request.raw.rawHeaders, 'idempotency-key');
    const key = keys.length > 1 ? keys : keys[0];
    try {
      await this.idempotency.run(sender.xuid, key, body, (claim) => this.outbox.send(sender, body, request.id, claim));
    } catch (error) {
      this.metrics.sendRefused(error);
      throw error;
    }
    this.metrics.sendAccepted();
  }

  @Get('limits')
  @Header('Cache-Control', 'no-store')
  @RouteSchema({ response: { 200: responseSchema('SendLimits') } })
  @ApiOperation({
    operationId: 'sendLimits',
    summary: 'Show the send limits and what is used of them',
    description:
      'For each of the four limits: its value, what the sends in the current rolling window use of it, and when the ' +
      'next unit frees up. Counted exactly as sends are: recipients dropped for privacy or a block count too, so the ' +
      'figures never reveal a block. Charges nothing.',
  })
  @ApiHeader(CONTRACT_VERSION_HEADER)
  @ApiOkResponse({ description: 'The limits.', schema: ref('SendLimits') })
  @ApiErrorResponses(SEND_LIMITS_ERRORS)
  async limits(@CurrentUser() sender: UserIdentity): Promise<SendLimitsResponse> {
    const { now, limits } = await this.outbox.limits(sender);
    return toSendLimits(now, limits);
  }
}

interface SendLimitResponse {
  limit: number;
  used: number;
  nextFreeAt: string | null;
}

export interface SendLimitsResponse {
  asOf: string;
  windowSeconds: number;
  messagesPerWindow: SendLimitResponse;
  recipientsPerWindow: SendLimitResponse;
  strangersPerWindow: SendLimitResponse;
  strangersPerMessage: SendLimitResponse;
}

function toSendLimits(now: number, result: QuotaLimitsResult): SendLimitsResponse {
  const limit = (standing: QuotaLimitStanding): SendLimitResponse => ({
    limit: standing.max,
    used: standing.used,
    nextFreeAt: standing.nextFreeAt === null ? null : new Date(standing.nextFreeAt).toISOString(),
  });
  return {
    asOf: new Date(now).toISOString(),
    windowSeconds: result.windowSeconds,
    messagesPerWindow: limit(result.limits[QuotaLimit.MessagesPerWindow]),
    recipientsPerWindow: limit(result.limits[QuotaLimit.RecipientsPerWindow]),
    strangersPerWindow: limit(result.limits[QuotaLimit.StrangersPerWindow]),
    strangersPerMessage: limit(result.limits[QuotaLimit.StrangersPerMessage]),
  };
}
