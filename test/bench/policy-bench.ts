/**
 * MultiNetworkPolicy enforcement cost, same run, same two pods (bridge plugin, host-side veths),
 * rounds interleaved with the order rotated. Variants:
 *   none           no programs, no rules
 *   braid-empty    braid's programs on both pods' interfaces, no policy selecting them
 *   braid          braid's programs on both pods' interfaces; the server's ingress under a policy
 *                  of 10,000 peer prefixes and 1,000 port ranges
 *   iptables       the same policy as multi-networkpolicy-iptables renders it, in the server pod
 *                  (RELATED,ESTABLISHED accepted first, as its COMMON chain does)
 *   iptables-noct  the same rules without that shortcut (its releases before the COMMON chain)
 * Figures (IPv4): iperf3 TCP throughput (Gbit/s); 1-byte TCP request/response on one connection
 * (µs per transaction); new TCP connection + 1-byte exchange + close (µs per connection), where
 * every connection meets the rules. Then the time of a full update of the 10,000 prefixes, and
 * of attaching an interface under that policy (braid's ADD path).
 *
 *   npx node --experimental-transform-types test/bench/policy-bench.ts [--rounds 5] [--seconds 3]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { withNetns } from '../../src/bpf/netns.ts';
import {
  attachPodInterfaces,
  detachPodInterfaces,
  type AttachedInterface,
  type PodInterface,
} from '../../src/policy/attach.ts';
import { reconcileAll } from '../../src/policy/node-reconcile.ts';
import type { PolicyRuntimeOptions } from '../../src/policy/runtime.ts';
import { PolicyStore } from '../../src/policy/store.ts';
import { buildBpfObjects, makePinRoot } from '../bpf/env.ts';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { runPlugin } from '../helpers/run-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { echoReaches, startEchoServer, stopEchoServers } from '../helpers/traffic.ts';
import { median } from './bench-tools.ts';
import { connectRate, requestResponse, throughput, type Sample } from './policy-measure.ts';
import { benchPolicy, iptablesRules, policyYaml } from './policy-rules.ts';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '3' } },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const NET = 'default/net1';
const IP = { client: '10.90.0.2', server: '10.90.0.3' };
type Variant = 'none' | 'braid-empty' | 'braid' | 'iptables' | 'iptables-noct';
const VARIANTS: Variant[] = ['none', 'braid-empty', 'braid', 'iptables', 'iptables-noct'];

async function pod(host: Netns, name: string, ip: string, podDir: string): Promise<{ ns: Netns; iface: PodInterface }> {
  const ns = await createNetns('braid-t-bench');
  await ns.ip(['link', 'set', 'lo', 'up']);
  const conf = {
    cniVersion: '1.0.0',
    name: 'net1',
    type: 'bridge',
    bridge: 'brbp0',
    isGateway: false,
    ipMasq: false,
    ipam: { type: 'static', addresses: [{ address: `${ip}/24` }] },
  };
  const r = await runPlugin('/usr/lib/cni/bridge', {
    command: 'ADD',
    containerId: `bench-${name}`,
    netns: ns,
    ifname: 'net1',
    hostNetns: host,
    stdin: conf,
  });
  if (r.code !== 0) throw new Error(`bridge ADD: ${r.stdout}${r.stderr}`);
  const status = [{ name: NET, interface: 'net1', ips: [ip], default: false }];
  mkdirSync(join(podDir, 'bench'), { recursive: true });
  writeFileSync(
    join(podDir, 'bench', `${name}.yaml`),
    stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'bench',
        labels: { app: name },
        annotations: { 'k8s.v1.cni.cncf.io/network-status': JSON.stringify(status) },
      },
    }),
  );
  return {
    ns,
    iface: {
      containerId: `bench-${name}`,
      pod: { namespace: 'bench', name },
      network: NET,
      ifname: 'net1',
      netns: ns.path,
      ips: [ip],
    },
  };
}

async function mustIn(ns: Netns, argv: string[], input?: string): Promise<void> {
  const r = await ns.nsenter(argv, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

async function main(): Promise<void> {
  buildBpfObjects();
  const pins = makePinRoot();
  const dir = makeTempDir('braid-t-pbench');
  const opts: PolicyRuntimeOptions = {
    bpfRoot: pins.path,
    policyDir: join(dir, 'policies'),
    podDir: join(dir, 'pods'),
    cacheDir: join(dir, 'cache'),
  };
  let attached: AttachedInterface[] = [];
  const host = await createNetns('braid-t-bhost');
  try {
    await host.ip(['link', 'set', 'lo', 'up']);
    const client = await pod(host, 'client', IP.client, opts.podDir);
    const server = await pod(host, 'server', IP.server, opts.podDir);
    const policy = benchPolicy(IP.client);
    const file = join(dir, 'bench.yaml');
    writeFileSync(file, policyYaml(policy, NET));
    new PolicyStore(opts.policyDir).apply([file]);

    const attachMs: number[] = [];
    const empty = { ...opts, policyDir: join(dir, 'no-policies') };
    const enable = async (v: Variant) => {
      if (v === 'braid') {
        const t0 = performance.now();
        attached = withNetns(host.path, () => attachPodInterfaces([server.iface, client.iface], opts));
        attachMs.push(performance.now() - t0);
      } else if (v === 'braid-empty') {
        attached = withNetns(host.path, () => attachPodInterfaces([server.iface, client.iface], empty));
      } else if (v !== 'none') {
        await mustIn(
          server.ns,
          ['iptables-restore', '--noflush'],
          iptablesRules(policy, 'net1', NET, v === 'iptables'),
        );
      }
    };
    const disable = async (v: Variant) => {
      if (v === 'braid' || v === 'braid-empty') withNetns(host.path, () => detachPodInterfaces(attached, opts));
      else if (v !== 'none') {
        await mustIn(server.ns, ['iptables', '-F']);
        await mustIn(server.ns, ['iptables', '-X']);
      }
    };

    // The policy must really be enforced: a port outside the ranges is closed, the allowed one open.
    for (const v of VARIANTS) {
      await enable(v);
      const closed = await startEchoServer(server.ns, 'tcp', IP.server, 7777, 10_000);
      const open = await startEchoServer(server.ns, 'tcp', IP.server, 5305, 10_000);
      const reached = [
        await echoReaches(client.ns, 'tcp', IP.server, 7777, { timeoutMs: 700 }),
        await echoReaches(client.ns, 'tcp', IP.server, 5305),
      ];
      closed.stop();
      open.stop();
      await disable(v);
      console.log(
        `check ${v}: port 7777 ${reached[0] ? 'open' : 'closed'}, port 5305 ${reached[1] ? 'open' : 'closed'}`,
      );
      if (reached[1] !== true || reached[0] !== (v === 'none' || v === 'braid-empty'))
        throw new Error(`variant ${v} does not enforce the policy as expected`);
    }

    const results = new Map<Variant, Sample[]>(VARIANTS.map((v) => [v, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const v of order) {
        await enable(v);
        try {
          const t = await throughput(client.ns, server.ns, IP.server, SECONDS);
          const rr = await requestResponse(client.ns, server.ns, IP.server, SECONDS);
          const crrUs = await connectRate(client.ns, server.ns, IP.server, SECONDS);
          results.get(v)!.push({ gbps: t.gbps, cpuPerGbit: t.cpuPerGbit, rrUs: rr.us, rrCpuUs: rr.cpuUs, crrUs });
        } finally {
          await disable(v);
        }
      }
      console.log(
        `round ${round}: ${VARIANTS.map((v) => {
          const s = results.get(v)!.at(-1)!;
          return `${v} ${s.gbps.toFixed(2)} Gbit/s ${s.rrUs.toFixed(1)} µs ${s.crrUs.toFixed(0)} µs/conn`;
        }).join(' | ')}`,
      );
    }

    const med = (v: Variant, k: keyof Sample) => median(results.get(v)!.map((x) => x[k]));
    /** Median over rounds of a/b within each round: drifts in machine load hit both alike. */
    const paired = (a: Variant, b: Variant, k: keyof Sample, invert = false) =>
      median(results.get(a)!.map((x, i) => (invert ? results.get(b)![i]![k] / x[k] : x[k] / results.get(b)![i]![k])));
    console.log(
      `\nmedians over ${ROUNDS} rounds of ${SECONDS} s (pod to pod over a bridge, IPv4, ${policy.prefixes.length} prefixes, ${policy.ranges.length} port ranges, ${cpus().length} CPUs):`,
    );
    console.log('  variant         TCP Gbit/s  CPU s/Gbit   RR µs/txn  RR CPU µs  CRR µs/conn');
    for (const v of VARIANTS) {
      const cols = [
        med(v, 'gbps').toFixed(2),
        med(v, 'cpuPerGbit').toFixed(3),
        med(v, 'rrUs').toFixed(2),
        med(v, 'rrCpuUs').toFixed(2),
        med(v, 'crrUs').toFixed(1),
      ];
      console.log(`  ${v.padEnd(14)} ${cols.map((c, i) => c.padStart([10, 11, 11, 10, 12][i]!)).join(' ')}`);
    }
    console.log('ratios (median of per-round ratios; > 1 means braid does better):');
    for (const other of ['none', 'braid-empty', 'iptables', 'iptables-noct'] as const) {
      const goal = other === 'none' || other === 'braid-empty' ? ' (goal >= 0.95)' : ' (goal >= 3)';
      console.log(
        `  braid vs ${other}: throughput ${paired('braid', other, 'gbps').toFixed(3)}${goal}, CPU per Gbit ${paired('braid', other, 'cpuPerGbit', true).toFixed(3)}, ` +
          `RR rate ${paired('braid', other, 'rrUs', true).toFixed(3)}${goal.includes('0.95') ? goal : ''}, RR CPU ${paired('braid', other, 'rrCpuUs', true).toFixed(3)}, ` +
          `connection rate ${paired('braid', other, 'crrUs', true).toFixed(3)}`,
      );
    }

    // Updates: every prefix replaced by another (the allowed peer stays), with the interfaces attached.
    await enable('braid');
    const updates: { storeMs: number; ms: number; written: number; deleted: number }[] = [];
    for (let k = 1; k <= 5; k++) {
      writeFileSync(file, policyYaml(benchPolicy(IP.client, 10_000, 1_000, k * 20_000), NET));
      const t0 = performance.now();
      new PolicyStore(opts.policyDir).apply([file]);
      const t1 = performance.now();
      const r = withNetns(host.path, () => reconcileAll(opts));
      updates.push({ storeMs: t1 - t0, ms: performance.now() - t1, written: r.written, deleted: r.deleted });
    }
    await disable('braid');
    const ipt = benchPolicy(IP.client, 10_000, 1_000, 60_000);
    const t0 = performance.now();
    await mustIn(server.ns, ['iptables-restore', '--noflush'], iptablesRules(ipt, 'net1', NET, true));
    const iptMs = performance.now() - t0;
    await disable('iptables');
    console.log(
      `\nfull update of the 10,000 prefixes, interfaces attached: reconcile (read store, compile, diff, write maps) median ` +
        `${median(updates.map((u) => u.ms)).toFixed(0)} ms (${updates.map((u) => `${u.ms.toFixed(0)} ms: ${u.written} written, ${u.deleted} removed`).join('; ')}); ` +
        `before that, storing the YAML (parse + validate): median ${median(updates.map((u) => u.storeMs)).toFixed(0)} ms; iptables-restore of the same rules: ${iptMs.toFixed(0)} ms`,
    );
    console.log(
      `attach of both pods' interfaces under the policy (ADD path): median ${median(attachMs).toFixed(0)} ms over ${attachMs.length}`,
    );
  } finally {
    stopEchoServers();
    await destroyAllNetns();
    pins.cleanup();
    cleanupTemps();
  }
}

await main();
