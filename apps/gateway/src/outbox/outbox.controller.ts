import { Body, Controller, HttpCode, HttpStatus, Post, Req, UseGuards } from '@nestjs/common';
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
import { ERRORS } from '@app/shared/errors';
import { UserIdentity } from '@app/shared/tokens';
import { CurrentUser } from '../auth/current-user.decorator';
import { UserAuthGuard, UserRoute } from '../auth/user-auth.guard';
import { headerValues } from '../http/raw-headers';
import { ApiErrorResponses, SEND_MESSAGE_ERRORS } from '../openapi/error-responses';
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
}
