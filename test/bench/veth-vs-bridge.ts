/**
 * Pod-to-pod on one node: braid-veth (BPF redirect between host-side veths) against Debian's
 * `bridge` plugin, measured in the same run, rounds interleaved (order rotated every round) so
 * that load from anything else on the machine hits every variant alike. Variants:
 *   bridge            /usr/lib/cni/bridge + host-local, defaults
 *   braid-veth        braid-veth as configured by default (BPF redirect, 64 KiB GSO)
 *   braid-veth-bigtcp braid-veth with gsoMaxSize 196608 (BIG TCP, opt-in)
 * Figures (IPv4):
 *   TCP throughput: iperf3 (client in pod 1, server in pod 2), Gbit/s, unpinned, one stream; plus
 *   Gbit per CPU-second of both iperf3 processes (iperf3's own user+system figures).
 *   TCP throughput with --streams parallel streams (iperf3 -P, default 4; 0 skips it), summed: one
 *   stream on two vCPUs is bound by the copies in the two iperf3 processes, parallel streams load
 *   the datapath itself. Quote which of the two a figure is.
 *   TCP request/response latency: veth-vs-bridge.py, 1-byte ping-pong on one connection, µs per
 *   transaction; client and server pinned to one CPU (a cross-CPU wake-up in a VM costs an IPI
 *   exit that swamps the datapath); plus CPU µs per transaction of both processes.
 * Every measured process runs at nice -20: this machine type is shared with other work, and the
 * scheduler's weights then keep most of that work out of the measurement. The CPU figures are
 * the less noisy ones when the machine is busy.
 * Prints per-round figures, the medians and the ratios braid-veth/bridge (goal: throughput
 * >= 1.1x, latency <= 0.9x). Needs root; everything lives in throwaway namespaces.
 *
 *   npx node --experimental-transform-types test/bench/veth-vs-bridge.ts [--rounds 7] [--seconds 3] [--streams 4]
 * BENCH_EXTRA_BPF_DIR=<dir holding another veth.o> adds a variant "braid-veth-extra" loaded from
 * it, to compare a datapath change against the current one in the same run.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { NICE, iperf3, median, startIn } from './bench-tools.ts';
import { runPlugin } from '../helpers/run-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { createPod, makeTestbed, removePluginBinary, type Testbed } from '../integration/veth-testbed.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '3' },
    streams: { type: 'string', default: '4' },
  },
});
const STREAMS = Number(opts.streams);
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const RR_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'veth-vs-bridge.py');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const RR_CPU = String(Math.max(0, cpus().length - 1));

interface Pair {
  name: string;
  client: Netns;
  server: Netns;
  serverIp: string;
}

interface Sample {
  gbps: number;
  /** Summed over STREAMS parallel streams (NaN when not measured). */
  gbpsParallel: number;
  gbitPerCpuSecond: number;
  us: number;
  cpuUsPerTransaction: number;
}

async function throughput(p: Pair): Promise<Pick<Sample, 'gbps' | 'gbitPerCpuSecond' | 'gbpsParallel'>> {
  const { gbps, cpus } = await iperf3(p.client, p.server, p.serverIp, SECONDS, p.name);
  const parallel = STREAMS > 0 ? await iperf3(p.client, p.server, p.serverIp, SECONDS, p.name, STREAMS) : undefined;
  return { gbps, gbitPerCpuSecond: gbps / cpus, gbpsParallel: parallel?.gbps ?? Number.NaN };
}

async function latency(p: Pair): Promise<Pick<Sample, 'us' | 'cpuUsPerTransaction'>> {
  const pinned = [...NICE, 'taskset', '-c', RR_CPU, PYTHON, RR_SCRIPT];
  const server = await startIn(p.server, [...pinned, 'server', p.serverIp, '5302'], /ready/);
  try {
    const r = await p.client.nsenter([...pinned, 'client', p.serverIp, '5302', String(SECONDS)], {
      timeoutMs: (SECONDS + 20) * 1000,
    });
    if (r.code !== 0) throw new Error(`TCP_RR in ${p.name}: ${r.stderr}`);
    const c = JSON.parse(r.stdout) as { transactions: number; usPerTransaction: number; cpuSeconds: number };
    const s = JSON.parse((await server.output).split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
      cpuSeconds?: number;
    };
    return {
      us: c.usPerTransaction,
      cpuUsPerTransaction: ((c.cpuSeconds + (s.cpuSeconds ?? NaN)) / c.transactions) * 1e6,
    };
  } finally {
    server.stop();
  }
}

async function vethPair(
  tb: Testbed,
  name: string,
  extra: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<Pair> {
  const pods: Netns[] = [];
  let serverIp = '';
  for (const id of [`${name}-1`, `${name}-2`]) {
    const ns = await createPod();
    const r = await tb.run('ADD', { pod: ns, containerId: id, conf: tb.conf(extra), env });
    if (r.code !== 0) throw new Error(`braid-veth ADD: ${r.stdout}${r.stderr}`);
    pods.push(ns);
    serverIp = (r.json!.ips as { address: string }[])[0]!.address.split('/')[0]!;
  }
  return { name, client: pods[0]!, server: pods[1]!, serverIp };
}

async function bridgePair(): Promise<Pair> {
  const host = await createNetns('braid-t-brhost');
  await host.ip(['link', 'set', 'lo', 'up']);
  const conf = {
    cniVersion: '1.0.0',
    name: 'bench-bridge',
    type: 'bridge',
    bridge: 'brbench0',
    isGateway: true,
    ipam: { type: 'host-local', dataDir: makeTempDir('braid-t-bripam'), ranges: [[{ subnet: '10.78.0.0/24' }]] },
  };
  const pods: Netns[] = [];
  let serverIp = '';
  for (const id of ['bench-1', 'bench-2']) {
    const ns = await createPod();
    const r = await runPlugin('/usr/lib/cni/bridge', {
      command: 'ADD',
      containerId: id,
      netns: ns,
      ifname: 'eth0',
      hostNetns: host,
      stdin: conf,
    });
    if (r.code !== 0) throw new Error(`bridge ADD: ${r.stdout}${r.stderr}`);
    pods.push(ns);
    serverIp = (r.json!.ips as { address: string }[])[0]!.address.split('/')[0]!;
  }
  return { name: 'bridge', client: pods[0]!, server: pods[1]!, serverIp };
}

function report(results: Map<string, Sample[]>): void {
  const med = (name: string): Sample => {
    const xs = results.get(name)!;
    const m = (k: keyof Sample) => median(xs.map((x) => x[k]));
    return {
      gbps: m('gbps'),
      gbpsParallel: m('gbpsParallel'),
      gbitPerCpuSecond: m('gbitPerCpuSecond'),
      us: m('us'),
      cpuUsPerTransaction: m('cpuUsPerTransaction'),
    };
  };
  const b = med('bridge');
  console.log(`\nmedians over ${ROUNDS} rounds of ${SECONDS} s (pod-to-pod, one node, IPv4, ${cpus().length} CPUs):`);
  console.log(
    `  variant            TCP Gbit/s  ${`x${STREAMS} Gbit/s`.padStart(11)}  Gbit/CPU-s  TCP_RR µs  CPU µs/txn`,
  );
  for (const name of results.keys()) {
    const m = med(name);
    const cols = [
      m.gbps.toFixed(2),
      m.gbpsParallel.toFixed(2),
      m.gbitPerCpuSecond.toFixed(2),
      m.us.toFixed(2),
      m.cpuUsPerTransaction.toFixed(2),
    ];
    console.log(`  ${name.padEnd(17)} ${cols.map((c, i) => c.padStart([11, 12, 11, 10, 11][i]!)).join(' ')}`);
  }
  for (const name of [...results.keys()].filter((n) => n !== 'bridge')) {
    const m = med(name);
    console.log(
      `  ${name}/bridge: throughput ${(m.gbps / b.gbps).toFixed(3)} (one stream; goal >= 1.1), ` +
        `${STREAMS} streams ${(m.gbpsParallel / b.gbpsParallel).toFixed(3)}, latency ${(m.us / b.us).toFixed(3)} (goal <= 0.9); ` +
        `per CPU: throughput ${(m.gbitPerCpuSecond / b.gbitPerCpuSecond).toFixed(3)}, RR cost ${(m.cpuUsPerTransaction / b.cpuUsPerTransaction).toFixed(3)}`,
    );
  }
}

async function main(): Promise<void> {
  const tb = await makeTestbed();
  try {
    const pairs = [
      await bridgePair(),
      await vethPair(tb, 'braid-veth'),
      await vethPair(tb, 'braid-veth-bigtcp', { gsoMaxSize: 196608 }),
    ];
    if (process.env.BENCH_EXTRA_BPF_DIR)
      pairs.push(await vethPair(tb, 'braid-veth-extra', {}, { BRAID_BPF_DIR: process.env.BENCH_EXTRA_BPF_DIR }));
    const results = new Map(pairs.map((p) => [p.name, [] as Sample[]]));
    for (let round = 1; round <= ROUNDS; round++) {
      const order = pairs.map((_, i) => pairs[(i + round) % pairs.length]!);
      const t = new Map<string, Awaited<ReturnType<typeof throughput>>>();
      for (const p of order) t.set(p.name, await throughput(p));
      for (const p of order) results.get(p.name)!.push({ ...t.get(p.name)!, ...(await latency(p)) });
      const line = [...results].map(
        ([n, r]) =>
          `${n} ${r.at(-1)!.gbps.toFixed(2)} Gbit/s (x${STREAMS}: ${r.at(-1)!.gbpsParallel.toFixed(2)}) ${r.at(-1)!.us.toFixed(1)} µs`,
      );
      console.log(`round ${round}: ${line.join(' | ')}`);
    }
    report(results);
  } finally {
    await destroyAllNetns();
    tb.cleanup();
    cleanupTemps();
    removePluginBinary();
  }
}

await main();
