/**
 * Pod-to-pod on one node: braid-veth (BPF redirect between host-side veths) against Debian's
 * `bridge` plugin, measured in the same run, rounds interleaved so that drift hits both alike.
 *   TCP throughput: iperf3 (client in pod 1, server in pod 2), Gbit/s.
 *   TCP request/response latency: veth-vs-bridge.py, 1-byte ping-pong on one connection, µs.
 * Prints per-round figures, the medians and the ratios braid-veth/bridge (goal: throughput
 * >= 1.1x, latency <= 0.9x). Needs root; everything lives in throwaway namespaces.
 *
 *   npx node --experimental-transform-types test/bench/veth-vs-bridge.ts [--rounds 5] [--seconds 5]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { runPlugin } from '../helpers/run-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { createPod, makeTestbed, removePluginBinary, type Testbed } from '../integration/veth-testbed.ts';

const { values: opts } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '5' } },
});
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const RR_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'veth-vs-bridge.py');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface Pair {
  name: string;
  client: Netns;
  server: Netns;
  serverIp: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Starts `argv` in `ns`, resolves once it printed `readyPattern` (or at once without one). */
function startIn(ns: Netns, argv: string[], readyPattern?: RegExp): Promise<{ stop(): void }> {
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => child.kill('SIGKILL');
  if (!readyPattern) return Promise.resolve({ stop });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${argv[0]} not ready in ${ns.name}`)), 5000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (readyPattern.test(out)) {
        clearTimeout(timer);
        resolve({ stop });
      }
    });
  });
}

async function throughputGbps(p: Pair): Promise<number> {
  const server = await startIn(p.server, ['iperf3', '-s', '-1', '--forceflush', '-B', p.serverIp, '-p', '5301'], /listening/i);
  try {
    const r = await p.client.nsenter(['iperf3', '-c', p.serverIp, '-p', '5301', '-t', String(SECONDS), '-J'], {
      timeoutMs: (SECONDS + 20) * 1000,
    });
    if (r.code !== 0) throw new Error(`iperf3 in ${p.name}: ${r.stderr || r.stdout.slice(0, 300)}`);
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.stop();
  }
}

async function latencyUs(p: Pair): Promise<number> {
  const server = await startIn(p.server, [PYTHON, RR_SCRIPT, 'server', p.serverIp, '5302'], /ready/);
  try {
    const r = await p.client.nsenter([PYTHON, RR_SCRIPT, 'client', p.serverIp, '5302', String(SECONDS)], {
      timeoutMs: (SECONDS + 20) * 1000,
    });
    if (r.code !== 0) throw new Error(`TCP_RR in ${p.name}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { usPerTransaction: number }).usPerTransaction;
  } finally {
    server.stop();
  }
}

async function vethPair(tb: Testbed): Promise<Pair> {
  const pods: Netns[] = [];
  let serverIp = '';
  for (const id of ['bench-1', 'bench-2']) {
    const ns = await createPod();
    const r = await tb.run('ADD', { pod: ns, containerId: id });
    if (r.code !== 0) throw new Error(`braid-veth ADD: ${r.stdout}${r.stderr}`);
    pods.push(ns);
    serverIp = (r.json!.ips as { address: string }[])[0]!.address.split('/')[0]!;
  }
  return { name: 'braid-veth', client: pods[0]!, server: pods[1]!, serverIp };
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
    const r = await runPlugin('/usr/lib/cni/bridge', { command: 'ADD', containerId: id, netns: ns, ifname: 'eth0', hostNetns: host, stdin: conf });
    if (r.code !== 0) throw new Error(`bridge ADD: ${r.stdout}${r.stderr}`);
    pods.push(ns);
    serverIp = (r.json!.ips as { address: string }[])[0]!.address.split('/')[0]!;
  }
  return { name: 'bridge', client: pods[0]!, server: pods[1]!, serverIp };
}

async function main(): Promise<void> {
  const tb = await makeTestbed();
  try {
    const veth = await vethPair(tb);
    const bridge = await bridgePair();
    const results: Record<string, { gbps: number[]; us: number[] }> = { 'braid-veth': { gbps: [], us: [] }, bridge: { gbps: [], us: [] } };
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which variant goes first so that neither always runs on a warmer machine.
      const order = round % 2 ? [veth, bridge] : [bridge, veth];
      for (const p of order) results[p.name]!.gbps.push(await throughputGbps(p));
      for (const p of order) results[p.name]!.us.push(await latencyUs(p));
      console.log(
        `round ${round}: ` +
          Object.entries(results)
            .map(([n, r]) => `${n} ${r.gbps.at(-1)!.toFixed(2)} Gbit/s ${r.us.at(-1)!.toFixed(1)} µs`)
            .join(' | '),
      );
    }
    const v = results['braid-veth']!;
    const b = results.bridge!;
    const [vg, bg, vu, bu] = [median(v.gbps), median(b.gbps), median(v.us), median(b.us)];
    console.log(`\nmedians over ${ROUNDS} rounds of ${SECONDS} s (pod-to-pod, one node, IPv4):`);
    console.log(`  TCP throughput   braid-veth ${vg.toFixed(2)} Gbit/s   bridge ${bg.toFixed(2)} Gbit/s`);
    console.log(`  TCP_RR latency   braid-veth ${vu.toFixed(2)} µs       bridge ${bu.toFixed(2)} µs`);
    console.log(`  throughput ratio braid-veth/bridge = ${(vg / bg).toFixed(3)}  (goal >= 1.1)`);
    console.log(`  latency ratio    braid-veth/bridge = ${(vu / bu).toFixed(3)}  (goal <= 0.9)`);
  } finally {
    await destroyAllNetns();
    tb.cleanup();
    cleanupTemps();
    removePluginBinary();
  }
}

await main();
