/**
 * CPU time of the processes under test, from /proc/<pid>/stat (utime + stime,
 * in clock ticks), the machine's from /proc/stat, and a summary of a V8
 * .cpuprofile by self time.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const CLOCK_TICKS = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

export const clockTicksPerSecond = (): number => CLOCK_TICKS;

function ownTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: [0] is field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return null; // gone
  }
}

function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

// Titles of processes serving one database: "postgres: 15/main: <user> <database> <host>(<port>) <state>",
// "postgres: 15/main: autovacuum worker <database>".
const BACKEND_TITLE = /^postgres: \S+: (?:autovacuum worker (\S+)|\S+ (\S+) (?:\S+\(\d+\)|\[local\]))/;

/** The database a postgres process serves, or null for the postmaster and the shared background processes. */
function databaseOf(pid: number): string | null {
  try {
    const title = BACKEND_TITLE.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    return title ? (title[1] ?? title[2]) : null;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine, all CPUs: everything but idle and iowait. */
function machineTicks(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return user + nice + system + irq + softirq + steal;
}

const toMs = (ticks: number): number => (ticks * 1000) / CLOCK_TICKS;

/** CPU milliseconds used so far by the whole machine, and per process of the run, by name and pid. */
export interface CpuSample {
  at: number;
  machine: number;
  processes: Record<string, Map<number, number>>;
}

/**
 * `named`: processes of this run by pid. `postgres` is the postmaster, its
 * background processes and the backends of `database` (told apart by their
 * process titles); backends of other databases are someone else's. `redis` is
 * every redis-server (shared with anyone else using it); `bench` is this
 * process (the load generator).
 */
export function sampleCpu(named: Record<string, number | undefined>, database: string): CpuSample {
  const processes: Record<string, Map<number, number>> = {};
  const add = (name: string, pid: number, ms: number) => (processes[name] ??= new Map()).set(pid, ms);
  for (const [name, pid] of Object.entries(named)) {
    const ticks = pid === undefined ? null : ownTicks(pid);
    if (pid !== undefined && ticks !== null) add(name, pid, toMs(ticks));
  }
  processes.postgres = new Map();
  for (const pid of pidsNamed('postgres')) {
    const served = databaseOf(pid);
    const ticks = ownTicks(pid);
    if ((served === null || served === database) && ticks !== null) add('postgres', pid, toMs(ticks));
  }
  for (const pid of pidsNamed('redis-server')) {
    const ticks = ownTicks(pid);
    if (ticks !== null) add('redis', pid, toMs(ticks));
  }
  const usage = process.cpuUsage();
  add('bench', process.pid, (usage.user + usage.system) / 1000);
  return { at: Date.now(), machine: toMs(machineTicks()), processes };
}

export interface CpuUse {
  /** CPU milliseconds per operation, per process; `others` is the rest of the machine. */
  msPerOp: Record<string, number>;
  /** Share of the machine's capacity (all CPUs) that others used meanwhile, in percent. */
  othersPercent: number;
}

/**
 * CPU per operation between two samples, per name: processes in both samples
 * count their difference, processes started in between all they used; the
 * unknown share of those that exited in between falls to `others`. A name
 * running in neither sample (delivery while stopped) is left out.
 */
export function cpuPerOperation(before: CpuSample, after: CpuSample, operations: number): CpuUse {
  const ops = Math.max(operations, 1);
  const msPerOp: Record<string, number> = {};
  let ours = 0;
  for (const [name, pids] of Object.entries(after.processes)) {
    let used = 0;
    for (const [pid, ms] of pids) used += ms - (before.processes[name]?.get(pid) ?? 0);
    ours += used;
    msPerOp[name] = used / ops;
  }
  const others = Math.max(0, after.machine - before.machine - ours);
  msPerOp.others = others / ops;
  const capacity = Math.max(after.at - before.at, 1) * cpus().length;
  return { msPerOp, othersPercent: (100 * others) / capacity };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const PSEUDO = new Set(['(idle)', '(program)', '(garbage collector)']);

function packageOf(url: string): string | null {
  if (!url) return null;
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1];
  if (url.includes('/dist/')) return `service ${url.split('/dist/')[1].split('/').slice(0, 3).join('/')}`;
  return url.startsWith('node:') ? null : url;
}

/**
 * Where a V8 .cpuprofile spent its busy samples (idle left out): by package,
 * with Node's own and native frames (socket writes, crypto) charged to the
 * nearest caller in a package, and the top functions by self time. Samples
 * are wall time on the main thread: a syscall during which the process was
 * descheduled counts too, so use it to rank, /proc CPU to size.
 */
export function summariseCpuProfile(file: string, top = 15): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    endTime: number;
    samples: number[];
  };
  const sampleMs = (profile.endTime - profile.startTime) / 1000 / Math.max(profile.samples.length, 1);
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (hits === 0 || functionName === '(idle)') continue;
    busy += hits;
    let owner: string | null = PSEUDO.has(functionName) ? functionName : null;
    for (let id: number | undefined = node.id; owner === null && id !== undefined; id = parents.get(id)) {
      owner = packageOf(nodes.get(id)?.callFrame.url ?? '');
    }
    byPackage.set(owner ?? '(node)', (byPackage.get(owner ?? '(node)') ?? 0) + hits);
    const where = url ? ` ${packageOf(url) ?? url.replace(/^node:/, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const rows = (entries: Map<string, number>) =>
    [...entries.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(
        ([key, hits]) =>
          `${((100 * hits) / busy).toFixed(1).padStart(5)}%  ${(hits * sampleMs).toFixed(0).padStart(6)} ms  ${key}`,
      );
  return [
    `busy ${((busy * sampleMs) / 1000).toFixed(1)} s of ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s; by package (callers of native frames):`,
    ...rows(byPackage),
    'top functions by self time:',
    ...rows(byFunction),
  ];
}

/**
 * Waits until processes outside the run use less than `percent` of the
 * machine over a half-second window, for at most `maxMs`. Returns the wait.
 */
export async function awaitQuiet(sample: () => CpuSample, percent: number, maxMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const before = sample();
    await new Promise((wake) => setTimeout(wake, 500));
    if (cpuPerOperation(before, sample(), 1).othersPercent < percent || Date.now() - started >= maxMs)
      return Date.now() - started;
  }
}
