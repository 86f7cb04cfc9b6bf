/**
 * What taking over a pod Multus set up costs braid's DEL, side by side in one run: a pod with a
 * bridge cluster network and a macvlan network, (a) ADDed by braid and DELed by braid from its own
 * record, (b) ADDed by the delegates directly with Multus' caches written as Multus leaves them
 * (libcni's results and Multus' per-container file), then DELed by braid from those caches.
 * Runs in a network namespace of its own (the "node"). Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/takeover-del.ts [iterations]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { delegateNetConf, libcniEntry, type MultusDelegate, type MultusPod } from '../helpers/multus-fixture.ts';
import type { Netns } from '../helpers/netns.ts';
import { median, NICE } from './bench-tools.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const braid = path.join(root, 'dist/bin/braid');
const PLUGINS = '/usr/lib/cni';
const iterations = Number(process.argv[2] ?? 20);
const suffix = randomBytes(3).toString('hex');
const nodeNs = `braid-b-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
// braid's defaults (policy on), with the pins under a pin root of the bench's own.
const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
const multusDir = path.join(tmp, 'multus');

function cni(plugin: string, command: string, env: Record<string, string>, conf: string): { ms: number; out: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(NICE[0]!, [...NICE.slice(1), 'nsenter', `--net=/run/netns/${nodeNs}`, plugin], {
    input: conf,
    env: { PATH: process.env.PATH ?? '', CNI_COMMAND: command, CNI_PATH: PLUGINS, ...env },
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${path.basename(plugin)} ${command} failed: ${r.stdout} ${r.stderr}`);
  return { ms, out: r.stdout };
}

const ipam = (subnet: string) => ({ type: 'host-local', dataDir: path.join(tmp, 'ipam'), ranges: [[{ subnet }]] });
const cluster = {
  cniVersion: '1.0.0',
  name: 'bench-cluster',
  plugins: [{ type: 'bridge', bridge: 'benchbr0', isGateway: true, ipam: ipam('10.77.0.0/16') }],
};
const macvlan = {
  cniVersion: '1.0.0',
  name: 'bench-mv',
  type: 'macvlan',
  master: 'mvmaster0',
  mode: 'bridge',
  ipam: ipam('10.78.0.0/16'),
};

function setUp(): string {
  execFileSync('ip', ['netns', 'add', nodeNs]);
  execFileSync('ip', ['-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  for (const l of ['mvmaster0', 'mvpeer0']) execFileSync('ip', ['-n', nodeNs, 'link', 'set', l, 'up']);
  for (const d of ['conf', 'nads', 'pods/bench', 'multus/results'])
    fs.mkdirSync(path.join(tmp, d), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'conf', '10-cluster.conflist'), JSON.stringify(cluster));
  fs.writeFileSync(
    path.join(tmp, 'nads', 'mv.yaml'),
    `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: mv\n  namespace: bench\nspec:\n  config: '${JSON.stringify(macvlan)}'\n`,
  );
  fs.writeFileSync(
    path.join(tmp, 'pods', 'bench', 'pod.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\n  namespace: bench\n  annotations:\n    k8s.v1.cni.cncf.io/networks: mv\n',
  );
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'braid-bench',
    type: 'braid',
    clusterNetwork: path.join(tmp, 'conf', '10-cluster.conflist'),
    confDir: path.join(tmp, 'conf'),
    cniDir: path.join(tmp, 'cache'),
    multusCniDir: multusDir,
    binDir: PLUGINS,
    nadDir: path.join(tmp, 'nads'),
    podDir: path.join(tmp, 'pods'),
    policy: { bpfRoot: pinRoot, policyDir: path.join(tmp, 'policies') },
  });
}

/** The delegates as Multus runs them, then its caches. */
function multusAdd(containerId: string, netnsPath: string): void {
  const p: MultusPod = {
    containerId,
    netns: { path: netnsPath } as Netns,
    node: { path: `/run/netns/${nodeNs}` } as Netns,
    pod: { namespace: 'bench', name: 'pod' },
  };
  const delegates: MultusDelegate[] = [
    { display: 'bench-cluster', bytes: JSON.stringify(cluster), ifname: 'eth0', master: true },
    { display: 'bench/mv', bytes: JSON.stringify(macvlan), ifname: 'net1' },
  ];
  const args = `IgnoreUnknown=true;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod;K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=`;
  for (const d of delegates) {
    const doc = JSON.parse(d.bytes) as Record<string, unknown> & { plugins?: Record<string, unknown>[] };
    const plugin = doc.plugins ? { ...doc.plugins[0], name: doc.name, cniVersion: doc.cniVersion } : doc;
    const { out } = cni(
      path.join(PLUGINS, String(plugin.type)),
      'ADD',
      { CNI_CONTAINERID: containerId, CNI_NETNS: netnsPath, CNI_IFNAME: d.ifname, CNI_ARGS: args },
      JSON.stringify(plugin),
    );
    fs.writeFileSync(
      path.join(multusDir, 'results', `${String(doc.name)}-${containerId}-${d.ifname}`),
      JSON.stringify(libcniEntry(p, d, JSON.parse(out))),
    );
  }
  fs.writeFileSync(path.join(multusDir, containerId), JSON.stringify(delegates.map(delegateNetConf)));
}

function run(): void {
  const conf = setUp();
  const own: number[] = [];
  const takeover: number[] = [];
  for (let i = 0; i < iterations + 2; i++) {
    const pod = `braid-bp-${suffix}`;
    execFileSync('ip', ['netns', 'add', pod]);
    try {
      const base = {
        CNI_NETNS: `/run/netns/${pod}`,
        CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod',
        CNI_IFNAME: 'eth0',
      };
      cni(braid, 'ADD', { ...base, CNI_CONTAINERID: `b${i}` }, conf);
      const a = cni(braid, 'DEL', { ...base, CNI_CONTAINERID: `b${i}` }, conf).ms;
      multusAdd(`m${i}`, `/run/netns/${pod}`);
      const b = cni(braid, 'DEL', { ...base, CNI_CONTAINERID: `m${i}` }, conf).ms;
      if (fs.readdirSync(path.join(multusDir, 'results')).length > 0)
        throw new Error('takeover DEL left Multus cache entries');
      if (i >= 2) {
        own.push(a);
        takeover.push(b);
      }
    } finally {
      spawnSync('ip', ['netns', 'del', pod]);
    }
  }
  const o = median(own);
  const t = median(takeover);
  console.log(`braid DEL, bridge + macvlan, ${iterations} pods, medians (shared 2-core machine: compare the ratio)`);
  console.log(`from braid's own record:  ${o.toFixed(1)} ms`);
  console.log(`from Multus' caches:      ${t.toFixed(1)} ms  (ratio ${(t / o).toFixed(2)})`);
}

try {
  run();
} finally {
  spawnSync('ip', ['netns', 'del', nodeNs]);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(pinRoot, { recursive: true, force: true });
}
