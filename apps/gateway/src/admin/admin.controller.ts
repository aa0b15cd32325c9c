import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Put, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Xuid } from '@app/shared/xuid';
import { AdminAuthGuard } from '../auth/admin-auth.guard';
import {
  ADD_RELATION_ERRORS,
  ApiErrorResponses,
  GET_USER_ERRORS,
  REMOVE_RELATION_ERRORS,
  UPSERT_USER_ERRORS,
} from '../openapi/error-responses';
import { ADMIN_OTHER_XUID_PARAM, ADMIN_XUID_PARAM, SECURITY, TAG, UPSERT_USER_BODY } from '../openapi/parameters';
import { ref } from '../openapi/schemas';
import { AdminValidationPipe } from './admin-validation.pipe';
import { AdminXuidPipe } from './admin-xuid.pipe';
import { AdminService } from './admin.service';
import { UpsertUserDto } from './dto/upsert-user.dto';
import { toUserResponse, UserDetailResponse, UserResponse } from './dto/user.response';

/** The directory's admin API (docs/api.md, Admin API). */
@Controller('admin/users')
@UseGuards(AdminAuthGuard)
@ApiTags(TAG.admin)
@ApiBearerAuth(SECURITY.adminBearer)
@ApiParam(ADMIN_XUID_PARAM)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get(':xuid')
  @ApiOperation({ operationId: 'getUser', summary: 'Get a user with their friends and blocks' })
  @ApiOkResponse({ description: 'The user, their friends and the users they block.', schema: ref('UserDetail') })
  @ApiErrorResponses(GET_USER_ERRORS)
  async getUser(@Param('xuid', AdminXuidPipe) xuid: Xuid): Promise<UserDetailResponse> {
    const { user, friends, blocks } = await this.admin.getUser(xuid);
    return { ...toUserResponse(user), friends, blocks };
  }

  /** 201 when the user was created, 200 when updated. */
  @Put(':xuid')
  @ApiOperation({
    operationId: 'upsertUser',
    summary: 'Create or update a user',
    description: 'Gamertags are unique without regard to case: a gamertag another user holds is 409.',
  })
  @ApiBody(UPSERT_USER_BODY)
  @ApiOkResponse({ description: 'The user existed and was updated.', schema: ref('User') })
  @ApiCreatedResponse({ description: 'The user was created.', schema: ref('User') })
  @ApiErrorResponses(UPSERT_USER_ERRORS)
  async upsertUser(
    @Param('xuid', AdminXuidPipe) xuid: Xuid,
    @Body(AdminValidationPipe) body: UpsertUserDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserResponse> {
    const { outcome, user } = await this.admin.upsertUser(xuid, body.gamertag, body.communication);
    reply.status(outcome === 'created' ? HttpStatus.CREATED : HttpStatus.OK);
    return toUserResponse(user);
  }

  @Put(':xuid/friends/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'addFriend', summary: 'Make two users friends (mutual, idempotent)' })
  @ApiParam(ADMIN_OTHER_XUID_PARAM)
  @ApiNoContentResponse({ description: 'The users are friends (also when they already were).' })
  @ApiErrorResponses(ADD_RELATION_ERRORS)
  befriend(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.befriend(xuid, other);
  }

  @Delete(':xuid/friends/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'removeFriend', summary: 'End a friendship (both directions, idempotent)' })
  @ApiParam(ADMIN_OTHER_XUID_PARAM)
  @ApiNoContentResponse({ description: 'The users are not friends (also when they were not before).' })
  @ApiErrorResponses(REMOVE_RELATION_ERRORS)
  unfriend(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.unfriend(xuid, other);
  }

  @Put(':xuid/blocks/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    operationId: 'addBlock',
    summary: 'Block a user (one direction, idempotent)',
    description: '`xuid` blocks `otherXuid`: messages from `otherXuid` to `xuid` are silently dropped.',
  })
  @ApiParam(ADMIN_OTHER_XUID_PARAM)
  @ApiNoContentResponse({ description: '`xuid` blocks `otherXuid` (also when it already did).' })
  @ApiErrorResponses(ADD_RELATION_ERRORS)
  block(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.block(xuid, other);
  }

  @Delete(':xuid/blocks/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'removeBlock', summary: 'Remove a block (idempotent)' })
  @ApiParam(ADMIN_OTHER_XUID_PARAM)
  @ApiNoContentResponse({ description: '`xuid` does not block `otherXuid` (also when it did not before).' })
  @ApiErrorResponses(REMOVE_RELATION_ERRORS)
  unblock(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.unblock(xuid, other);
  }
}
