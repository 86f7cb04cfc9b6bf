import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import type { Netns } from '../helpers/netns.ts';

/**
 * braid-agent as a process for black-box tests (and the agent benchmark, so no vitest here): the
 * built binary, run inside the test's node namespace so that the delegates it starts build the
 * host side of pod networks there, as braid's own process would.
 */
export interface AgentProcess {
  readonly pid: number;
  readonly socketPath: string;
  /** Everything the agent wrote to stderr so far. */
  log(): string;
  get(path: string): Promise<{ status: number; body: string }>;
  /** One sample of the Prometheus text, e.g. metric('braid_agent_requests_total{verb="ADD",code="0"}'). */
  metric(series: string): Promise<number | undefined>;
  /** SIGTERM and wait for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

export interface AgentProcessOptions {
  node: Netns;
  socketPath: string;
  cacheDir: string;
  args?: string[];
  env?: Record<string, string>;
}

/**
 * The braid-agent of the build a `braid` belongs to: beside it (dist/bin, dist/sea), or, for the
 * front door of a host layout (dist/host/braid), the build's bin/braid-agent.
 */
export function agentBinaryBeside(braid: string): string {
  const beside = join(dirname(braid), 'braid-agent');
  return existsSync(beside) ? beside : join(dirname(dirname(braid)), 'bin', 'braid-agent');
}

export function getOverSocket(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

export function sampleOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export async function startAgentProcess(binary: string, o: AgentProcessOptions): Promise<AgentProcess> {
  const args = [
    '--socket',
    o.socketPath,
    '--cache-dir',
    o.cacheDir,
    '--metrics-address',
    'off',
    '--no-policy',
    '--shutdown-grace',
    '5',
    ...(o.args ?? []),
  ];
  const child: ChildProcess = spawn('nsenter', [`--net=${o.node.path}`, '--', binary, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`braid-agent exited with ${child.exitCode}: ${stderr}`);
    if (existsSync(o.socketPath)) {
      const ok = await getOverSocket(o.socketPath, '/healthz').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`braid-agent did not come up on ${o.socketPath}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const agent: AgentProcess = {
    pid: child.pid!,
    socketPath: o.socketPath,
    log: () => stderr,
    get: (path) => getOverSocket(o.socketPath, path),
    metric: async (series) => sampleOf((await getOverSocket(o.socketPath, '/metrics')).body, series),
    signal: (sig) => void child.kill(sig),
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return agent;
}
