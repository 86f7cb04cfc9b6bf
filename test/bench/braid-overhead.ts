/**
 * braid's own overhead per pod, measured side by side in one run: a pod with a bridge cluster
 * network and three macvlan networks, ADD and DEL through braid versus the same four delegates
 * called directly. Runs inside a network namespace of its own (the "node"), so the host is not
 * touched. Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/braid-overhead.ts [iterations]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';
import { benchPodConfs, PLUGINS, timeDirect, timedCni } from './bench-pod.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const braid = path.join(root, 'dist/bin/braid');
const iterations = Number(process.argv[2] ?? 30);
const suffix = randomBytes(3).toString('hex');
const nodeNs = `braid-b-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
// braid's defaults (policy on), with the pins under a pin root of the bench's own.
const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;

function sh(cmd: string[]): string {
  return execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
}

/** Runs one CNI call inside the node namespace and returns its wall time in ms. */
const cni = (plugin: string, command: string, env: Record<string, string>, conf: string): number =>
  timedCni(nodeNs, plugin, { PATH: process.env.PATH ?? '', CNI_COMMAND: command, CNI_PATH: PLUGINS, ...env }, conf);

const podConfs = benchPodConfs(tmp);
const { bridgeConf, macvlanConf } = podConfs;

/** The floor any Node program pays before its first line: `node -e 0` with the same binary. */
function timeNode(): number {
  const start = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function setUp(): string {
  sh(['ip', 'netns', 'add', nodeNs]);
  sh(['ip', '-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  sh(['ip', '-n', nodeNs, 'link', 'set', 'mvmaster0', 'up']);
  sh(['ip', '-n', nodeNs, 'link', 'set', 'mvpeer0', 'up']);
  const confDir = path.join(tmp, 'conf');
  const nadDir = path.join(tmp, 'nads');
  const podDir = path.join(tmp, 'pods', 'bench');
  fs.mkdirSync(confDir, { recursive: true });
  fs.mkdirSync(nadDir, { recursive: true });
  fs.mkdirSync(podDir, { recursive: true });
  fs.writeFileSync(path.join(confDir, '10-cluster.conflist'), JSON.stringify(bridgeConf));
  for (const i of [1, 2, 3]) {
    fs.writeFileSync(
      path.join(nadDir, `mv${i}.yaml`),
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: mv${i}\n  namespace: bench\nspec:\n  config: '${JSON.stringify(macvlanConf(i))}'\n`,
    );
  }
  fs.writeFileSync(
    path.join(podDir, 'pod.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\n  namespace: bench\n  annotations:\n    k8s.v1.cni.cncf.io/networks: mv1,mv2,mv3\n',
  );
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'braid-bench',
    type: 'braid',
    clusterNetwork: path.join(confDir, '10-cluster.conflist'),
    confDir,
    cniDir: path.join(tmp, 'cache'),
    binDir: PLUGINS,
    nadDir,
    podDir: path.join(tmp, 'pods'),
    // braid's defaults: policy on (no policy selects the pod; test/bench/policy-* measure attaching).
    policy: { bpfRoot: pinRoot, policyDir: path.join(tmp, 'policies') },
  });
}

function tearDown(): void {
  spawnSync('ip', ['netns', 'del', nodeNs]);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(pinRoot, { recursive: true, force: true });
}

function run(): void {
  const braidConf = setUp();
  const add: number[] = [];
  const del: number[] = [];
  const directAdd: number[] = [];
  const directDel: number[] = [];
  const start: number[] = [];
  const nodeStart: number[] = [];
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod';
  for (let i = 0; i < iterations + 2; i++) {
    const pod = `braid-bp-${suffix}`;
    sh(['ip', 'netns', 'add', pod]);
    try {
      const base = { CNI_NETNS: `/run/netns/${pod}`, CNI_ARGS: args };
      // braid: one call does all four attachments.
      const a = cni(braid, 'ADD', { ...base, CNI_CONTAINERID: `b${i}`, CNI_IFNAME: 'eth0' }, braidConf);
      const d = cni(braid, 'DEL', { ...base, CNI_CONTAINERID: `b${i}`, CNI_IFNAME: 'eth0' }, braidConf);
      // The same delegates, called directly, one process each.
      const direct = (verb: 'ADD' | 'DEL') =>
        timeDirect(podConfs.direct, verb, (plugin, ifname, conf) =>
          cni(plugin, verb, { ...base, CNI_CONTAINERID: `d${i}`, CNI_IFNAME: ifname }, conf),
        );
      const [da, dd] = [direct('ADD'), direct('DEL')];
      const v = cni(braid, 'VERSION', {}, '{}');
      const bare = timeNode();
      if (i >= 2) {
        // The first two rounds warm caches (page cache, Node's compile cache, braid's plugin-version cache).
        add.push(a);
        del.push(d);
        directAdd.push(da);
        directDel.push(dd);
        start.push(v);
        nodeStart.push(bare);
      }
    } finally {
      spawnSync('ip', ['netns', 'del', pod]);
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(7);
  const rows = [
    ['ADD', median(add), median(directAdd)],
    ['DEL', median(del), median(directDel)],
  ] as const;
  console.log(`braid overhead: bridge + 3 macvlan, ${iterations} pods, medians in ms`);
  console.log('verb      braid  delegates  overhead  ratio');
  for (const [verb, b, dlg] of rows)
    console.log(`${verb.padEnd(4)} ${f(b)}    ${f(dlg)}   ${f(b - dlg)}  ${(b / dlg).toFixed(2)}`);
  console.log(
    `braid process start (VERSION, no delegate): ${median(start).toFixed(1)} ms; Node 24 itself (node -e 0): ${median(nodeStart).toFixed(1)} ms`,
  );
}

try {
  run();
} finally {
  tearDown();
}
