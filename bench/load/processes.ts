/**
 * Child processes of the load benchmark: the three services from the built
 * output, the minimal peer and the SQL floor worker. Every child is tracked so
 * that one call stops them all, on success, on error and on Ctrl-C.
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(__dirname, '../..');
const STDERR_KEPT = 16 * 1024;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** Loads a TypeScript entry point of this repository without a build. */
const TS_NODE = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];

export type Env = Record<string, string | number>;

export interface Child {
  name: string;
  pid: number;
  /** http://127.0.0.1:<port> of its HTTP listener (health for quota and delivery). */
  url: string;
  running(): boolean;
  /** The last few kilobytes it wrote to stderr. */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it is gone. */
  stop(): Promise<void>;
}

const children = new Set<Child>();
// Set by stopAll: from then on nothing new may start (the run's code may still be going when a signal came).
let closing = false;

function refuseWhenClosing(name: string): void {
  if (closing) throw new Error(`not starting ${name}: the benchmark is shutting down`);
}

/** Only what a child needs, never the parent's environment (which may name another database). */
function childEnv(env: Env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.HOME) out.HOME = process.env.HOME;
  for (const [key, value] of Object.entries(env)) out[key] = String(value);
  return out;
}

function track(name: string, child: ChildProcess, url: string): Child {
  let tail = '';
  let alive = true;
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-STDERR_KEPT);
  });
  const exited = new Promise<void>((done) =>
    child.once('exit', () => {
      alive = false;
      done();
    }),
  );
  const handle: Child = {
    name,
    pid: child.pid ?? -1,
    url,
    running: () => alive,
    stderr: () => tail,
    async stop() {
      if (alive) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      children.delete(handle);
    },
  };
  children.add(handle);
  return handle;
}

/** `node <nodeArgs> <script>` in the repository root; stdout to /dev/null, stderr kept. */
export function spawnNode(name: string, script: string[], env: Env, url: string, nodeArgs: string[] = []): Child {
  refuseWhenClosing(name);
  const child = spawn(process.execPath, [...nodeArgs, ...script], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return track(name, child, url);
}

/** A built service: `node dist/apps/<name>/src/main.js`. */
export function spawnService(name: 'gateway' | 'quota' | 'delivery', env: Env, url: string, nodeArgs: string[] = []): Child {
  return spawnNode(name, [`dist/apps/${name}/src/main.js`], env, url, nodeArgs);
}

/** A TypeScript file of bench/load run through ts-node. */
export function spawnTs(name: string, file: string, env: Env, url: string): Child {
  return spawnNode(name, [...TS_NODE, file], env, url);
}

/** Polls GET <url>/readyz until 200 with every check up (not "degraded"); fails early if the process exits. */
export async function waitReady(child: Child, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (child.running() && Date.now() < deadline) {
    status = await fetch(`${child.url}/readyz`).then(
      async (response) =>
        response.status === 200 && ((await response.json()) as { status?: string }).status === 'degraded' ? 0 : response.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(50);
  }
  const why = child.running() ? `not ready after ${timeoutMs} ms (last status ${status})` : 'exited';
  throw new Error(`${child.name} (pid ${child.pid}) ${why}:\n${child.stderr()}`);
}

/** Runs `command` to completion; rejects with its stderr on a non-zero exit. */
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, quiet = true): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT)));
    child.once('error', fail);
    child.once('exit', (code) =>
      code === 0 ? done() : fail(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}`)),
    );
  });
}

/** A long-lived TypeScript worker answering one request per IPC message, in order. */
export interface Worker<Request, Response> {
  child: Child;
  request(message: Request): Promise<Response>;
}

export function forkTsWorker<Request, Response>(name: string, file: string): Worker<Request, Response> {
  refuseWhenClosing(name);
  const child = fork(resolve(ROOT, file), [], {
    cwd: ROOT,
    env: childEnv({}),
    execArgv: TS_NODE,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const handle = track(name, child, '');
  let queue: Promise<unknown> = Promise.resolve();
  const request = (message: Request): Promise<Response> => {
    const next = queue.then(
      () =>
        new Promise<Response>((done, fail) => {
          const onExit = () => fail(new Error(`${name} exited:\n${handle.stderr()}`));
          child.once('exit', onExit);
          child.once('message', (reply: { ok: true; value: Response } | { ok: false; error: string }) => {
            child.off('exit', onExit);
            if (reply.ok) done(reply.value);
            else fail(new Error(`${name}: ${reply.error}`));
          });
          child.send(message as object);
        }),
    );
    queue = next.catch(() => undefined);
    return next;
  };
  return { child: handle, request };
}

/** Stops every child still running, all at once, and refuses to start any more. */
export async function stopAll(): Promise<void> {
  closing = true;
  await Promise.all([...children].map((child) => child.stop()));
}
