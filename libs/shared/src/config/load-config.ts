import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, ValidationError } from 'class-validator';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type ConfigClass<T> = new () => T;

/**
 * Implemented by config classes with rules that span several variables or
 * depend on NODE_ENV (such as development-only defaults for secrets). Runs after
 * the per-variable checks pass; may fill in defaults; returns the problems.
 */
export interface CrossFieldCheck {
  crossFieldProblems(): string[];
}

/**
 * Builds a typed config object from environment-style key/value pairs and
 * validates it. Only the variables the class declares are read; empty strings
 * count as unset, so `FOO=` in a compose file falls back to the default.
 * Throws a {@link ConfigError} naming every bad variable.
 */
export function loadConfig<T extends object>(cls: ConfigClass<T>, source: Record<string, string | undefined>): T {
  const present: Record<string, string> = {};
  for (const key of declaredVariables(cls)) {
    const value = source[key];
    if (value !== undefined && value !== '') present[key] = value;
  }
  const config = plainToInstance(cls, present, {
    enableImplicitConversion: true,
    exposeDefaultValues: true,
  });
  const problems = validateSync(config).flatMap((error) => describe(error, present));
  if (problems.length === 0 && hasCrossFieldCheck(config)) {
    problems.push(...config.crossFieldProblems());
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function declaredVariables(cls: ConfigClass<unknown>): Set<string> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  return new Set(metadata.map((entry) => entry.propertyName));
}

// Values of these are never echoed back: they are or may contain credentials.
const SENSITIVE = /SECRET|TOKEN|KEY|PASSWORD|_URL$/;

function describe(error: ValidationError, present: Record<string, string>): string[] {
  const raw = present[error.property];
  const shown = raw === undefined ? 'unset' : SENSITIVE.test(error.property) ? 'value hidden' : `got ${JSON.stringify(raw)}`;
  return Object.values(error.constraints ?? {}).map((constraint) => `${error.property}: ${constraint} (${shown})`);
}

/**
 * The settings a service runs with, for its start-up log line: every declared
 * variable; secrets only as "(set)" or "(unset)", and URLs without their
 * password.
 */
export function effectiveSettings(config: object): Record<string, string | number | boolean | null> {
  const shown: Record<string, string | number | boolean | null> = {};
  for (const name of [...declaredVariables(config.constructor as ConfigClass<unknown>)].sort()) {
    // Settings are strings, numbers and booleans once loaded.
    const value = (config as Record<string, string | number | boolean | null | undefined>)[name];
    if (value === undefined || value === null) shown[name] = null;
    else if (name.endsWith('_URL')) shown[name] = withoutPassword(String(value));
    else if (SENSITIVE.test(name)) shown[name] = '(set)';
    else shown[name] = value;
  }
  return shown;
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(set)';
  }
}

function hasCrossFieldCheck(value: object): value is CrossFieldCheck {
  return typeof (value as Partial<CrossFieldCheck>).crossFieldProblems === 'function';
}

/**
 * The one place that reads the process environment: every entry point calls it
 * once at start, and everything else receives the typed result.
 */
export function loadConfigFromEnvironment<T extends object>(cls: ConfigClass<T>): T {
  return loadConfig(cls, process.env);
}
