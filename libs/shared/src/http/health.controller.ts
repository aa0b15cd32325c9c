import { Controller, Get, Header, Inject } from '@nestjs/common';
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
export class HealthController {
  constructor(@Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[]) {}

  /** Liveness: the process answers. Never touches a dependency. */
  @Get('healthz')
  @Header('cache-control', 'no-store')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: 200 only when every dependency answers within the timeout. */
  @Get('readyz')
  @Header('cache-control', 'no-store')
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
