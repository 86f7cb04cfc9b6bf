/**
 * Traffic measurements for test/bench/policy-bench.ts, between two namespaces: iperf3 TCP
 * throughput, 1-byte TCP request/response on one connection (veth-vs-bridge.py), and the rate of
 * new connections (policy-crr.py). Every process runs at nice -20 to keep other load out.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from '../helpers/netns.ts';

const here = dirname(fileURLToPath(import.meta.url));
const RR_SCRIPT = join(here, 'veth-vs-bridge.py');
const CRR_SCRIPT = join(here, 'policy-crr.py');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const RR_CPU = String(Math.max(0, cpus().length - 1));
const NICE = ['nice', '-n', '-20'];

export interface Sample {
  gbps: number;
  /** CPU seconds (both iperf3 processes, user + system) per Gbit. */
  cpuPerGbit: number;
  rrUs: number;
  /** CPU µs (client + server) per request/response transaction. */
  rrCpuUs: number;
  crrUs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Background {
  stop(): void;
  /** Everything it printed, once it exited. */
  output: Promise<string>;
}

function startIn(ns: Netns, argv: string[], ready: RegExp): Promise<Background> {
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const output = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  const stop = () => child.kill('SIGKILL');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${argv.join(' ')} not ready in ${ns.name}`));
    }, 5000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ stop, output });
      }
    });
  });
}

export async function throughput(client: Netns, server: Netns, ip: string, seconds: number): Promise<{ gbps: number; cpuPerGbit: number }> {
  const srv = await startIn(server, [...NICE, 'iperf3', '-s', '-1', '--forceflush', '-B', ip, '-p', '5301'], /listening/i);
  try {
    const r = await client.nsenter([...NICE, 'iperf3', '-c', ip, '-p', '5301', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    if (r.code !== 0) throw new Error(`iperf3: ${r.stderr || r.stdout.slice(0, 300)}`);
    const end = (JSON.parse(r.stdout) as {
      end: { sum_received: { bits_per_second: number }; cpu_utilization_percent: { host_total: number; remote_total: number } };
    }).end;
    const gbps = end.sum_received.bits_per_second / 1e9;
    const cpu = (end.cpu_utilization_percent.host_total + end.cpu_utilization_percent.remote_total) / 100;
    return { gbps, cpuPerGbit: cpu / gbps };
  } finally {
    srv.stop();
  }
}

export async function requestResponse(client: Netns, server: Netns, ip: string, seconds: number): Promise<{ us: number; cpuUs: number }> {
  const pinned = [...NICE, 'taskset', '-c', RR_CPU, PYTHON, RR_SCRIPT];
  const srv = await startIn(server, [...pinned, 'server', ip, '5302'], /ready/);
  try {
    const r = await client.nsenter([...pinned, 'client', ip, '5302', String(seconds)], { timeoutMs: (seconds + 20) * 1000 });
    if (r.code !== 0) throw new Error(`TCP_RR: ${r.stderr}`);
    const c = JSON.parse(r.stdout) as { transactions: number; usPerTransaction: number; cpuSeconds: number };
    const s = JSON.parse((await srv.output).split('\n').find((l) => l.startsWith('{')) ?? '{}') as { cpuSeconds?: number };
    return { us: c.usPerTransaction, cpuUs: ((c.cpuSeconds + (s.cpuSeconds ?? Number.NaN)) / c.transactions) * 1e6 };
  } finally {
    srv.stop();
  }
}

export async function connectRate(client: Netns, server: Netns, ip: string, seconds: number): Promise<number> {
  const pinned = [...NICE, 'taskset', '-c', RR_CPU, PYTHON, CRR_SCRIPT];
  const srv = await startIn(server, [...pinned, 'server', ip, '5303'], /ready/);
  try {
    const r = await client.nsenter([...pinned, 'client', ip, '5303', String(seconds)], { timeoutMs: (seconds + 20) * 1000 });
    if (r.code !== 0) throw new Error(`TCP_CRR: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { usPerConnection: number }).usPerConnection;
  } finally {
    srv.stop();
  }
}
