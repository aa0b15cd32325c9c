/** Measurements, the ratio lines and the printed table of the load benchmark. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Latencies in milliseconds, kept whole so percentiles are exact. */
export class Latencies {
  private values = new Float64Array(1024);
  private size = 0;

  record(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  /** Nearest-rank percentile; NaN when empty. */
  percentiles(...ps: number[]): number[] {
    const sorted = this.values.slice(0, this.size).sort();
    return ps.map((p) => (this.size === 0 ? NaN : sorted[Math.min(this.size - 1, Math.ceil((p / 100) * this.size) - 1)]));
  }
}

/** One measured run: a phase of the service or a floor. */
export interface Measurement {
  label: string;
  /** Operations that succeeded (2xx, committed transactions, ...). */
  count: number;
  seconds: number;
  /** count / seconds. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed operations (non-2xx, connection errors). */
  errors: number;
  /** Anything else worth keeping (status codes, entries, backlog, ...). */
  extra?: Record<string, number | string>;
  /** Share of the machine that processes outside the run used meanwhile (noise), in percent. */
  othersPercent?: number;
}

export function measurement(
  label: string,
  count: number,
  seconds: number,
  latencies: Latencies | null,
  errors = 0,
  extra?: Record<string, number | string>,
): Measurement {
  const [p50Ms, p99Ms] = latencies ? latencies.percentiles(50, 99) : [NaN, NaN];
  return { label, count, seconds, rate: count / seconds, p50Ms, p99Ms, errors, ...(extra ? { extra } : {}) };
}

/** A service rate beside its floor. `target` is printed, never enforced. */
export interface RatioLine {
  label: string;
  service: Measurement;
  floor: Measurement;
  /** The compared values: rate, or what `pick` chose. */
  serviceValue: number;
  floorValue: number;
  ratio: number;
  target: number | null;
  pass: boolean | null;
  /** Which rate is compared (requests/s by default). */
  unit: string;
}

export function ratioLine(
  label: string,
  service: Measurement,
  floor: Measurement,
  target: number | null,
  unit = '/s',
  pick: (m: Measurement) => number = (m) => m.rate,
): RatioLine {
  const serviceValue = pick(service);
  const floorValue = pick(floor);
  const ratio = serviceValue / floorValue;
  return {
    label,
    service,
    floor,
    serviceValue,
    floorValue,
    ratio,
    target,
    pass: target === null ? null : ratio >= target,
    unit,
  };
}

const num = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-';
const percent = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(0));
const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(value < 10 ? 2 : 1) : '-');

function table(header: string[], rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

export function measurementsTable(rows: Measurement[]): string {
  return table(
    ['run', 'ok', 'errors', 'seconds', 'rate/s', 'p50 ms', 'p99 ms', 'notes'],
    rows.map((m) => [
      m.label,
      num(m.count),
      num(m.errors),
      m.seconds.toFixed(2),
      num(m.rate),
      ms(m.p50Ms),
      ms(m.p99Ms),
      Object.entries(m.extra ?? {})
        .map(([key, value]) => `${key}=${typeof value === 'number' ? num(value, value % 1 === 0 ? 0 : 2) : value}`)
        .join(' '),
    ]),
    (column) => column > 0 && column < 7,
  );
}

export function ratiosTable(lines: RatioLine[]): string {
  return table(
    ['ratio', 'service', 'floor', 'ratio', 'target', 'p50 ms', 'p99 ms', 'floor p50', 'floor p99', 'others % s/f'],
    lines.map((line) => [
      line.label,
      `${num(line.serviceValue)}${line.unit}`,
      `${num(line.floorValue)}${line.unit}`,
      line.ratio.toFixed(2),
      line.target === null ? '(info)' : `>= ${line.target.toFixed(2)} ${line.pass ? 'ok' : 'MISS'}`,
      ms(line.service.p50Ms),
      ms(line.service.p99Ms),
      ms(line.floor.p50Ms),
      ms(line.floor.p99Ms),
      `${percent(line.service.othersPercent)}/${percent(line.floor.othersPercent)}`,
    ]),
    (column) => column > 0 && column !== 4,
  );
}

/** Milliseconds of CPU per operation, one row per phase, one column per process; the total leaves out the load generator. */
export interface CpuRow {
  phase: string;
  /** What one operation is (send, page, message). */
  per: string;
  msPerOp: Record<string, number>;
  othersPercent: number;
}

const NOT_IN_TOTAL = new Set(['bench', 'others']);

/** `total` is what the system under test (or the floor) spent: neither the load generator nor others. */
export function cpuTable(rows: CpuRow[]): string {
  const names = [...new Set(rows.flatMap((row) => Object.keys(row.msPerOp)))].filter((name) => !NOT_IN_TOTAL.has(name));
  return table(
    ['CPU ms per op', 'op', ...names, 'total', 'bench', 'others', 'others %'],
    rows.map((row) => [
      row.phase,
      row.per,
      ...names.map((name) => ms(row.msPerOp[name] ?? NaN)),
      ms(names.reduce((sum, name) => sum + (row.msPerOp[name] ?? 0), 0)),
      ms(row.msPerOp.bench ?? NaN),
      ms(row.msPerOp.others ?? NaN),
      `${row.othersPercent.toFixed(0)}%`,
    ]),
    (column) => column > 1,
  );
}

export function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}

export { ms as formatMs, num as formatNumber };
