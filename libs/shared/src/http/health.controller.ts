import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { AppError, ERRORS } from '../errors';

/** One dependency whose answer decides readiness. `check` rejects when it is down. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

/** The checks of a service: `required` ones decide readiness; `optional` ones only degrade it. */
export interface ReadinessChecks {
  required: ReadinessCheck[];
  optional: ReadinessCheck[];
}

/**
 * A check may reject with this to say why it is down: /readyz shows the
 * message under `reasons`, so it must name no address and no secret.
 */
export class ReadinessFailure extends Error {
  override readonly name = 'ReadinessFailure';
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
const CHECK_TIMEOUT_MS = 2000;

type CheckState = 'up' | 'down';

interface Probed {
  state: CheckState;
  reason?: string;
}

export interface Readiness {
  status: 'ready' | 'degraded';
  checks: Record<string, CheckState>;
  /** Why a check is down, for the checks that say (only when one does). */
  reasons?: Record<string, string>;
}

@Controller()
@ApiTags('health')
export class HealthController {
  private readonly checks: ReadinessCheck[];
  private readonly required: Set<ReadinessCheck>;

  constructor(@Inject(READINESS_CHECKS) checks: ReadinessChecks) {
    this.checks = [...checks.required, ...checks.optional];
    this.required = new Set(checks.required);
  }

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

  /**
   * Readiness: 200 when every required dependency answers within the timeout,
   * `degraded` when an optional one does not (the gateway still serves reads
   * while Redis or quota is away; sends answer 503 then).
   */
  @Get('readyz')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    operationId: 'readiness',
    summary: 'Readiness: 200 when every required dependency answers; "degraded" when only an optional one does not',
  })
  @ApiOkResponse({
    description:
      'Every required dependency answered within the timeout. `degraded`: an optional one did not (for the gateway, ' +
      'Redis or quota: inbox reads are served, sends answer 503 with Retry-After; the read replica, checked only ' +
      'with DATABASE_READ_URL: every route works, listings are answered by the primary).',
    schema: {
      type: 'object',
      required: ['status', 'checks'],
      properties: {
        status: { type: 'string', enum: ['ready', 'degraded'] },
        checks: { type: 'object', additionalProperties: { type: 'string', enum: ['up', 'down'] } },
        reasons: {
          type: 'object',
          description:
            'Why a check is down, where the check says (quota: "refused the credentials: unknown kid q9"; replica: ' +
            '"3120 ms behind the primary (limit 2000 ms); listings go to the primary").',
          additionalProperties: { type: 'string' },
        },
      },
      example: { status: 'ready', checks: { postgres: 'up', redis: 'up', quota: 'up' } },
    },
  })
  @ApiServiceUnavailableResponse({
    description:
      'A required dependency did not answer the readiness check; `errorMessage` names it (errorCode 1008 NOT_READY).',
    content: {
      'application/json': {
        schema: { $ref: '#/components/schemas/ErrorResponse' },
        example: { errorSource: 'gateway', errorCode: 1008, errorMessage: 'Not ready: redis unavailable.' },
      },
    },
  })
  async ready(): Promise<Readiness> {
    const probed = await Promise.all(this.checks.map((check) => probe(check)));
    const checks = Object.fromEntries(this.checks.map((check, i) => [check.name, probed[i].state]));
    const down = this.checks.filter((_, i) => probed[i].state === 'down');
    const requiredDown = down.filter((check) => this.required.has(check)).map((check) => check.name);
    if (requiredDown.length > 0) {
      throw new AppError(ERRORS.NOT_READY, `Not ready: ${requiredDown.join(', ')} unavailable.`);
    }
    const readiness: Readiness = { status: down.length > 0 ? 'degraded' : 'ready', checks };
    const reasons = this.checks.flatMap((check, i) => (probed[i].reason === undefined ? [] : [[check.name, probed[i].reason]]));
    if (reasons.length > 0) readiness.reasons = Object.fromEntries(reasons) as Record<string, string>;
    return readiness;
  }
}

async function probe(check: ReadinessCheck): Promise<Probed> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check.check(), timeout]);
    return { state: 'up' };
  } catch (error) {
    return error instanceof ReadinessFailure ? { state: 'down', reason: error.message } : { state: 'down' };
  } finally {
    clearTimeout(timer);
  }
}
