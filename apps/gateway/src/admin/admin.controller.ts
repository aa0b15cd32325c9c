import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Xuid } from '@app/shared/xuid';
import { AdminAuthGuard } from '../auth/admin-auth.guard';
import { AdminValidationPipe } from './admin-validation.pipe';
import { AdminXuidPipe } from './admin-xuid.pipe';
import { AdminService } from './admin.service';
import { UpsertUserDto } from './dto/upsert-user.dto';
import { toUserResponse, UserDetailResponse, UserResponse } from './dto/user.response';

/** The directory's admin API (CONTRACT section 6). */
@Controller('admin/users')
@UseGuards(AdminAuthGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get(':xuid')
  async getUser(@Param('xuid', AdminXuidPipe) xuid: Xuid): Promise<UserDetailResponse> {
    const { user, friends, blocks } = await this.admin.getUser(xuid);
    return { ...toUserResponse(user), friends, blocks };
  }

  /** 201 when the user was created, 200 when updated. */
  @Put(':xuid')
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
  befriend(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.befriend(xuid, other);
  }

  @Delete(':xuid/friends/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  unfriend(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.unfriend(xuid, other);
  }

  @Put(':xuid/blocks/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  block(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.block(xuid, other);
  }

  @Delete(':xuid/blocks/:other')
  @HttpCode(HttpStatus.NO_CONTENT)
  unblock(@Param('xuid', AdminXuidPipe) xuid: Xuid, @Param('other', AdminXuidPipe) other: Xuid): Promise<void> {
    return this.admin.unblock(xuid, other);
  }
}
