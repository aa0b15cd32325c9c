import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { AppError, ERRORS } from '../errors';

/** One dependency whose answer decides readiness. `check` rejects when it is down. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
const CHECK_TIMEOUT_MS = 2000;

type CheckState = 'up' | 'down';

@Controller()
@ApiTags('health')
export class HealthController {
  constructor(@Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[]) {}

  /** Liveness: the process answers. Never touches a dependency. */
  @Get('healthz')
  @Header('cache-control', 'no-store')
  @ApiOperation({ operationId: 'liveness', summary: 'Liveness: the process answers (never touches a dependency)' })
  @ApiOkResponse({
    description: 'The process is alive.',
    schema: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: 200 only when every dependency answers within the timeout. */
  @Get('readyz')
  @Header('cache-control', 'no-store')
  @ApiOperation({ operationId: 'readiness', summary: 'Readiness: 200 only when every dependency answers' })
  @ApiOkResponse({
    description: 'Every dependency answered within the timeout.',
    schema: {
      type: 'object',
      required: ['status', 'checks'],
      properties: {
        status: { type: 'string', enum: ['ready'] },
        checks: { type: 'object', additionalProperties: { type: 'string', enum: ['up', 'down'] } },
      },
      example: { status: 'ready', checks: { postgres: 'up', redis: 'up', quota: 'up' } },
    },
  })
  @ApiServiceUnavailableResponse({
    description: 'A dependency did not answer the readiness check; `errorMessage` names it (errorCode 1008 NOT_READY).',
    content: {
      'application/json': {
        schema: { $ref: '#/components/schemas/ErrorResponse' },
        example: { errorSource: 'gateway', errorCode: 1008, errorMessage: 'Not ready: redis unavailable.' },
      },
    },
  })
  async ready(): Promise<{ status: 'ready'; checks: Record<string, CheckState> }> {
    const states = await Promise.all(this.checks.map((check) => probe(check)));
    const checks = Object.fromEntries(this.checks.map((check, i) => [check.name, states[i]]));
    const down = this.checks.filter((_, i) => states[i] === 'down').map((check) => check.name);
    if (down.length > 0) {
      throw new AppError(ERRORS.NOT_READY, `Not ready: ${down.join(', ')} unavailable.`);
    }
    return { status: 'ready', checks };
  }
}

async function probe(check: ReadinessCheck): Promise<CheckState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check.check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}
