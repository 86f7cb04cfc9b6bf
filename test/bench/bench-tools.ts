import { spawn } from 'node:child_process';
import type { Netns } from '../helpers/netns.ts';

/** What the benchmarks share: medians, background servers in a namespace, an iperf3 run. */

/** Benchmark processes run at the highest priority: the 2-CPU machine is often busy with other work. */
export const NICE = ['nice', '-n', '-20'];

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Background {
  stop(): void;
  /** Everything it printed, once it exited. */
  output: Promise<string>;
}

/** Starts `argv` in `ns` and resolves once it printed `ready`; killed if it is not ready in 5 s. */
export function startIn(ns: Netns, argv: string[], ready: RegExp): Promise<Background> {
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

/** One iperf3 TCP run of `streams` parallel streams from `client` to `ip` in `server`: Gbit/s summed and the CPUs both ends used. */
export async function iperf3(
  client: Netns,
  server: Netns,
  ip: string,
  seconds: number,
  label: string,
  streams = 1,
): Promise<{ gbps: number; cpus: number }> {
  const srv = await startIn(
    server,
    [...NICE, 'iperf3', '-s', '-1', '--forceflush', '-B', ip, '-p', '5301'],
    /listening/i,
  );
  try {
    const r = await client.nsenter(
      [...NICE, 'iperf3', '-c', ip, '-p', '5301', '-t', String(seconds), '-P', String(streams), '-J'],
      {
        timeoutMs: (seconds + 20) * 1000,
      },
    );
    if (r.code !== 0) throw new Error(`iperf3 in ${label}: ${r.stderr || r.stdout.slice(0, 300)}`);
    const end = (
      JSON.parse(r.stdout) as {
        end: {
          sum_received: { bits_per_second: number };
          cpu_utilization_percent: { host_total: number; remote_total: number };
        };
      }
    ).end;
    return {
      gbps: end.sum_received.bits_per_second / 1e9,
      cpus: (end.cpu_utilization_percent.host_total + end.cpu_utilization_percent.remote_total) / 100,
    };
  } finally {
    srv.stop();
  }
}
