import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port';

export interface RedisClusterNode {
  port: number;
  process: ChildProcess;
}

export interface RedisCluster {
  nodes: RedisClusterNode[];
  /** REDIS_CLUSTER_NODES for the services: every node, as host:port. */
  seeds: string;
  /** Runs redis-cli against one node and answers its output. */
  cli(port: number, ...args: string[]): string;
  /** The node currently serving `slot` as master. */
  masterOf(slot: number): RedisClusterNode;
  /** SIGKILLs one node, waits for it to exit. */
  kill(node: RedisClusterNode): Promise<void>;
  /** Resolves once every live node reports cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const MASTERS = 3;

/**
 * A real Redis Cluster of 3 masters and 3 replicas from the installed
 * redis-server, each on a free port of its own in a temp directory (no
 * persistence), joined with `redis-cli --cluster create`. The run's shared
 * Redis is never touched.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'xblmsg-redis-cluster-'));
  const nodes: RedisClusterNode[] = [];
  const cli = (port: number, ...args: string[]): string =>
    execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  const alive = () => nodes.filter((node) => node.process.exitCode === null && node.process.signalCode === null);

  const stop = async () => {
    await Promise.all(alive().map((node) => kill(node)));
    rmSync(dir, { recursive: true, force: true });
  };
  const kill = async (node: RedisClusterNode) => {
    if (node.process.exitCode !== null || node.process.signalCode !== null) return;
    const exited = new Promise((resolve) => node.process.once('exit', resolve));
    node.process.kill('SIGKILL');
    await exited;
  };
  const waitHealthy = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = alive().map((node) => {
        try {
          return /cluster_state:ok/.test(cli(node.port, 'cluster', 'info'));
        } catch {
          return false;
        }
      });
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster not ok after ${timeoutMs} ms`);
      await sleep(100);
    }
  };

  // Every replica has its master's data (a failover test kills a master: its replica must be able to take over).
  const waitReplicasSynced = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const replication = alive().map((node) => cli(node.port, 'info', 'replication'));
      const replicas = replication.filter((info) => /role:slave/.test(info));
      if (replicas.length === MASTERS && replicas.every((info) => /master_link_status:up/.test(info))) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster replicas not in sync after ${timeoutMs} ms`);
      await sleep(100);
    }
  };

  try {
    for (let i = 0; i < MASTERS * 2; i++) {
      const port = await freePort();
      const args = [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1000'],
        ...['--save', '', '--appendonly', 'no', '--logfile', join(dir, `redis-${port}.log`)],
        // A replica that has not finished its first sync cannot take over; Redis 7 delays it 5 s by default.
        ...['--repl-diskless-sync-delay', '0'],
      ];
      nodes.push({ port, process: spawn('redis-server', args, { stdio: 'ignore' }) });
    }
    for (const node of nodes) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          if (cli(node.port, 'ping').trim() === 'PONG') break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`redis-server on ${node.port} did not start`);
        await sleep(50);
      }
    }
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    await waitHealthy();
    await waitReplicasSynced();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes,
    seeds: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
    cli,
    masterOf(slot) {
      const live = alive()[0];
      const slots = JSON.parse(
        execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(live.port), '--json', 'cluster', 'slots'], {
          encoding: 'utf8',
        }),
      ) as [number, number, [string, number, string]][];
      const range = slots.find(([from, to]) => from <= slot && slot <= to);
      const node = range && nodes.find((candidate) => candidate.port === Number(range[2][1]));
      if (!node) throw new Error(`no master serves slot ${slot}`);
      return node;
    },
    kill,
    waitHealthy,
    stop,
  };
}
