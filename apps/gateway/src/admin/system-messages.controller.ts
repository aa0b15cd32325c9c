import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Req, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { AdminAuthGuard } from '../auth/admin-auth.guard';
import { headerValues } from '../http/raw-headers';
import { BodyLimitConfig } from '../http/json-body';
import { ApiErrorResponses, CREATE_SYSTEM_MESSAGE_ERRORS, SYSTEM_MESSAGE_ERRORS } from '../openapi/error-responses';
import {
  BROADCAST_ID_PARAM,
  BROADCAST_IDEMPOTENCY_KEY_HEADER,
  SECURITY,
  SYSTEM_MESSAGE_BODY,
  TAG,
} from '../openapi/parameters';
import { ref } from '../openapi/schemas';
import { BroadcastResponse, toBroadcastResponse } from './dto/broadcast.response';
import { SystemMessagesService } from './system-messages.service';

// 10,000 XUIDs of 20 digits, quoted, with separators and some whitespace.
const SYSTEM_MESSAGE_BODY_LIMIT: BodyLimitConfig = { bodyLimitBytes: 1024 * 1024 };

/** System messages and broadcasts (docs/api.md, System messages). */
@Controller('admin/system-messages')
@UseGuards(AdminAuthGuard)
@ApiTags(TAG.admin)
@ApiBearerAuth(SECURITY.adminBearer)
export class SystemMessagesController {
  constructor(private readonly systemMessages: SystemMessagesService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RouteConfig(SYSTEM_MESSAGE_BODY_LIMIT)
  @ApiOperation({
    operationId: 'createSystemMessage',
    summary: 'Send a system message to a list of users or to everyone',
    description:
      'Stores the broadcast durably, then answers 202 with its id and progress; the delivery workers write it to every ' +
      "recipient's inbox in chunks. Recipients see messageType System, the subject as messageSummary and the configured " +
      'system sender. Privacy settings, blocks and send limits do not apply.',
  })
  @ApiHeader(BROADCAST_IDEMPOTENCY_KEY_HEADER)
  @ApiBody(SYSTEM_MESSAGE_BODY)
  @ApiAcceptedResponse({ description: 'Stored; delivery follows.', schema: ref('Broadcast') })
  @ApiErrorResponses(CREATE_SYSTEM_MESSAGE_ERRORS)
  async create(@Body() body: unknown, @Req() request: FastifyRequest): Promise<BroadcastResponse> {
    const keys = headerValues(request.raw.rawHeaders, 'idempotency-key');
    const key = keys.length > 1 ? keys : keys[0];
    return toBroadcastResponse(await this.systemMessages.create(body, key, request.id));
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getSystemMessage', summary: "A broadcast's state and progress" })
  @ApiParam(BROADCAST_ID_PARAM)
  @ApiOkResponse({ description: 'Its state, recipients targeted and entries delivered so far.', schema: ref('Broadcast') })
  @ApiErrorResponses(SYSTEM_MESSAGE_ERRORS)
  async status(@Param('id') id: string): Promise<BroadcastResponse> {
    return toBroadcastResponse(await this.systemMessages.status(id));
  }

  @Delete(':id')
  @ApiOperation({
    operationId: 'cancelSystemMessage',
    summary: 'Cancel what a broadcast has not delivered yet',
    description:
      'Chunks being written finish first; no chunk is written after. What was delivered stays. A broadcast already done ' +
      'or cancelled is answered as it is.',
  })
  @ApiParam(BROADCAST_ID_PARAM)
  @ApiOkResponse({ description: 'Its state afterwards (cancelled, unless it was already done).', schema: ref('Broadcast') })
  @ApiErrorResponses(SYSTEM_MESSAGE_ERRORS)
  async cancel(@Param('id') id: string): Promise<BroadcastResponse> {
    return toBroadcastResponse(await this.systemMessages.cancel(id));
  }
}
