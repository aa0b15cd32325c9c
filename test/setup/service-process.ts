import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './free-port';
import { baseSettings, fullyReady, Settings } from './services';

const ROOT = resolve(__dirname, '../..');
const READY_TIMEOUT_MS = 30_000;
const STDERR_KEPT = 8192;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal sent by {@link ServiceProcess.signal} (or from spawn) to exit. */
  afterMs: number;
}

export interface ServiceProcess {
  pid: number;
  /** http://127.0.0.1:<port> of its HTTP listener (the API for the gateway, health for the others). */
  url: string;
  /** The gateway's internal listener (/admin, /metrics, /docs); `url` for the other services. */
  internalUrl: string;
  /** Settles when the process is gone. */
  exited: Promise<ProcessExit>;
  /** Resolves once /readyz answers 200 with every check up (a worker runs from then on). */
  ready(): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** Kills it (SIGKILL) if it still runs, and waits for the exit. */
  stop(): Promise<ProcessExit>;
  /** The last few kilobytes it wrote to stderr, for failure messages. */
  stderr(): string;
  /** The last few kilobytes it wrote to stdout (its log lines). */
  stdout(): string;
}

export type ServiceName = 'gateway' | 'quota' | 'delivery';

// Where each service listens for HTTP, so a test can pin the port across restarts.
const HTTP_SETTINGS: Record<ServiceName, (port: number) => Settings> = {
  gateway: (port) => ({ HOST: '127.0.0.1', PORT: port }),
  quota: (port) => ({ QUOTA_LISTEN_HOST: '127.0.0.1', QUOTA_HTTP_PORT: port }),
  delivery: (port) => ({ DELIVERY_HTTP_HOST: '127.0.0.1', DELIVERY_HTTP_PORT: port }),
};

/** The real delivery service as its own OS process; see {@link spawnService}. */
export function spawnDelivery(settings: Settings = {}): Promise<ServiceProcess> {
  return spawnService('delivery', settings);
}

/**
 * A real service as its own OS process (apps/<name>/src/main.ts through
 * ts-node), so a test can SIGKILL or SIGTERM it. Gets the run's shared
 * settings, a free HTTP port (or `httpPort`, to come back on the same one
 * after a kill), and `settings` on top.
 */
export async function spawnService(name: ServiceName, settings: Settings = {}, httpPort?: number): Promise<ServiceProcess> {
  const port = httpPort ?? (await freePort());
  const internalPort = name === 'gateway' ? Number(settings.INTERNAL_PORT ?? (await freePort())) : port;
  const internal = name === 'gateway' ? { INTERNAL_HOST: '127.0.0.1', INTERNAL_PORT: internalPort } : {};
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [key, value] of Object.entries({ ...baseSettings(), ...HTTP_SETTINGS[name](port), ...internal, ...settings })) {
    if (value !== undefined) env[key] = String(value);
  }
  const child: ChildProcess = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', `apps/${name}/src/main.ts`],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-STDERR_KEPT);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
  });
  let signalledAt = Date.now();
  let running = true;
  const exited = new Promise<ProcessExit>((done) =>
    // 'close', not 'exit': by then its output is read to the end too.
    child.once('close', (code, signal) => {
      running = false;
      done({ code, signal, afterMs: Date.now() - signalledAt });
    }),
  );
  const url = `http://127.0.0.1:${port}`;

  return {
    pid: child.pid!,
    url,
    internalUrl: `http://127.0.0.1:${internalPort}`,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    async ready() {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (running && Date.now() < deadline) {
        if (await fullyReady(url)) return;
        await new Promise((wake) => setTimeout(wake, 50));
      }
      throw new Error(`${name} process ${child.pid} did not become ready (${running ? 'timeout' : 'it exited'}):\n${stderr}`);
    },
    signal(signal) {
      signalledAt = Date.now();
      child.kill(signal);
    },
    async stop() {
      if (running) {
        signalledAt = Date.now();
        child.kill('SIGKILL');
      }
      return exited;
    },
  };
}
