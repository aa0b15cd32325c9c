import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './free-port';
import { baseSettings, Settings } from './services';

const ROOT = resolve(__dirname, '../..');
const READY_TIMEOUT_MS = 30_000;
const STDERR_KEPT = 8192;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal sent by {@link DeliveryProcess.signal} (or from spawn) to exit. */
  afterMs: number;
}

export interface DeliveryProcess {
  pid: number;
  /** http://127.0.0.1:<port> of its health endpoints. */
  url: string;
  /** Settles when the process is gone. */
  exited: Promise<ProcessExit>;
  /** Resolves once /readyz answers 200 (the worker runs from then on). */
  ready(): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** Kills it (SIGKILL) if it still runs, and waits for the exit. */
  stop(): Promise<ProcessExit>;
  /** The last few kilobytes it wrote to stderr, for failure messages. */
  stderr(): string;
}

/**
 * The real delivery service as its own OS process (apps/delivery/src/main.ts
 * through ts-node), so a test can SIGKILL or SIGTERM it. Gets the run's shared
 * settings, a free health port, and `settings` on top.
 */
export async function spawnDelivery(settings: Settings = {}): Promise<DeliveryProcess> {
  const port = await freePort();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [key, value] of Object.entries({
    ...baseSettings(),
    DELIVERY_HTTP_HOST: '127.0.0.1',
    DELIVERY_HTTP_PORT: port,
    ...settings,
  })) {
    if (value !== undefined) env[key] = String(value);
  }
  const child: ChildProcess = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/delivery/src/main.ts'],
    { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
  });
  let signalledAt = Date.now();
  let running = true;
  const exited = new Promise<ProcessExit>((done) =>
    child.once('exit', (code, signal) => {
      running = false;
      done({ code, signal, afterMs: Date.now() - signalledAt });
    }),
  );
  const url = `http://127.0.0.1:${port}`;

  return {
    pid: child.pid!,
    url,
    exited,
    stderr: () => stderr,
    async ready() {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (running && Date.now() < deadline) {
        const status = await fetch(`${url}/readyz`).then((response) => response.status, () => 0);
        if (status === 200) return;
        await new Promise((wake) => setTimeout(wake, 50));
      }
      throw new Error(`delivery process ${child.pid} did not become ready (${running ? 'timeout' : 'it exited'}):\n${stderr}`);
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
