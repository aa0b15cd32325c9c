import { ErrorDefinition } from './error-catalog';

/**
 * A failure with a known meaning: services throw it without knowing HTTP, and
 * the gateway's filter turns it into the contract's errorResponse. `message`
 * is shown to the client, so it must never carry internals or reveal a block.
 */
export class AppError extends Error {
  constructor(
    readonly definition: ErrorDefinition,
    message: string = definition.message,
    readonly retryAfterSeconds?: number,
    /** Fields the body carries besides errorSource, errorCode and errorMessage (a 429's limit figures, a 404's unknown XUIDs). */
    readonly details?: Readonly<Record<string, string | number | readonly string[]>>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** The body of every 4xx/5xx response (docs/api.md, Errors). */
export interface ErrorResponse {
  errorSource: string;
  errorCode: number | null;
  errorMessage: string;
}
