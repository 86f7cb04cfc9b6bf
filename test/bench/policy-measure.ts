/**
 * Traffic measurements for test/bench/policy-bench.ts, between two namespaces: iperf3 TCP
 * throughput, 1-byte TCP request/response on one connection (veth-vs-bridge.py), and the rate of
 * new connections (policy-crr.py). Every process runs at nice -20 to keep other load out.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from '../helpers/netns.ts';
import { NICE, iperf3, startIn } from './bench-tools.ts';

const here = dirname(fileURLToPath(import.meta.url));
const RR_SCRIPT = join(here, 'veth-vs-bridge.py');
const CRR_SCRIPT = join(here, 'policy-crr.py');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const RR_CPU = String(Math.max(0, cpus().length - 1));

export interface Sample {
  gbps: number;
  /** CPU seconds (both iperf3 processes, user + system) per Gbit. */
  cpuPerGbit: number;
  rrUs: number;
  /** CPU µs (client + server) per request/response transaction. */
  rrCpuUs: number;
  crrUs: number;
}

export async function throughput(
  client: Netns,
  server: Netns,
  ip: string,
  seconds: number,
): Promise<{ gbps: number; cpuPerGbit: number }> {
  const { gbps, cpus } = await iperf3(client, server, ip, seconds, client.name);
  return { gbps, cpuPerGbit: cpus / gbps };
}

export async function requestResponse(
  client: Netns,
  server: Netns,
  ip: string,
  seconds: number,
): Promise<{ us: number; cpuUs: number }> {
  const pinned = [...NICE, 'taskset', '-c', RR_CPU, PYTHON, RR_SCRIPT];
  const srv = await startIn(server, [...pinned, 'server', ip, '5302'], /ready/);
  try {
    const r = await client.nsenter([...pinned, 'client', ip, '5302', String(seconds)], {
      timeoutMs: (seconds + 20) * 1000,
    });
    if (r.code !== 0) throw new Error(`TCP_RR: ${r.stderr}`);
    const c = JSON.parse(r.stdout) as { transactions: number; usPerTransaction: number; cpuSeconds: number };
    const s = JSON.parse((await srv.output).split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
      cpuSeconds?: number;
    };
    return { us: c.usPerTransaction, cpuUs: ((c.cpuSeconds + (s.cpuSeconds ?? Number.NaN)) / c.transactions) * 1e6 };
  } finally {
    srv.stop();
  }
}

export async function connectRate(client: Netns, server: Netns, ip: string, seconds: number): Promise<number> {
  const pinned = [...NICE, 'taskset', '-c', RR_CPU, PYTHON, CRR_SCRIPT];
  const srv = await startIn(server, [...pinned, 'server', ip, '5303'], /ready/);
  try {
    const r = await client.nsenter([...pinned, 'client', ip, '5303', String(seconds)], {
      timeoutMs: (seconds + 20) * 1000,
    });
    if (r.code !== 0) throw new Error(`TCP_CRR: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { usPerConnection: number }).usPerConnection;
  } finally {
    srv.stop();
  }
}
