/**
 * What running delegates in the host root costs (braid-agent --host-root, as the DaemonSet runs
 * it): the same pod (a bridge cluster network plus three macvlan networks) ADDed and DELeted
 * through two agents side by side, one running delegates directly and one through braid-chroot
 * into a host root (a temp dir with the machine's /usr, /etc, /proc, /sys, /dev and /run/netns bound in,
 * inside a mount namespace of the agent's own). The order alternates per iteration. Prints medians
 * and the ratio. Runs in network namespaces of its own; the host is not touched.
 * Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/host-root.ts [iterations]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const braid = path.join(root, 'dist/bin/braid');
const agentBin = path.join(root, 'dist/bin/braid-agent');
const PLUGINS = '/usr/lib/cni';
const iterations = Number(process.argv[2] ?? 20);
const suffix = randomBytes(3).toString('hex');
const nodeNs = `braid-b-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
// braid's defaults (policy on), with the pins under a pin root of the bench's own.
const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
const hostRoot = path.join(tmp, 'hostroot');
const netnsMade: string[] = [];
const agents: ChildProcess[] = [];

const sh = (cmd: string[]) => execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir: path.join(tmp, 'ipam'), ranges: [[{ subnet }]] });

function setUp(): Record<string, unknown> {
  sh(['ip', 'netns', 'add', nodeNs]);
  netnsMade.push(nodeNs);
  sh(['ip', '-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  for (const l of ['mvmaster0', 'mvpeer0', 'lo']) sh(['ip', '-n', nodeNs, 'link', 'set', l, 'up']);
  for (const d of ['conf', 'nads', 'pods/bench']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  const cluster = {
    cniVersion: '1.0.0',
    name: 'bench-cluster',
    plugins: [{ type: 'bridge', bridge: 'benchbr0', isGateway: true, ipam: hostLocal('10.77.0.0/16') }],
  };
  fs.writeFileSync(path.join(tmp, 'conf/10-cluster.conflist'), JSON.stringify(cluster));
  for (const i of [1, 2, 3]) {
    const conf = {
      cniVersion: '1.0.0',
      name: `bench-mv${i}`,
      type: 'macvlan',
      master: 'mvmaster0',
      mode: 'bridge',
      ipam: hostLocal(`10.78.${i}.0/24`),
    };
    fs.writeFileSync(
      path.join(tmp, `nads/mv${i}.yaml`),
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: mv${i}\n  namespace: bench\nspec:\n  config: '${JSON.stringify(conf)}'\n`,
    );
  }
  fs.writeFileSync(
    path.join(tmp, 'pods/bench/pod.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\n  namespace: bench\n  annotations:\n    k8s.v1.cni.cncf.io/networks: mv1,mv2,mv3\n',
  );
  for (const d of ['usr', 'etc', 'proc', 'sys', 'dev', 'run/netns', 'tmp'])
    fs.mkdirSync(path.join(hostRoot, d), { recursive: true });
  for (const l of ['lib', 'lib64', 'bin', 'sbin']) fs.symlinkSync(`usr/${l}`, path.join(hostRoot, l));
  return {
    cniVersion: '1.0.0',
    name: 'braid-bench',
    type: 'braid',
    clusterNetwork: path.join(tmp, 'conf/10-cluster.conflist'),
    confDir: path.join(tmp, 'conf'),
    binDir: PLUGINS,
    nadDir: path.join(tmp, 'nads'),
    podDir: path.join(tmp, 'pods'),
    policy: { bpfRoot: pinRoot, policyDir: path.join(tmp, 'policies') },
  };
}

/** An agent in the node namespace; with a host root, in a mount namespace holding its binds. */
async function startAgent(name: string, withHostRoot: boolean): Promise<string> {
  const socket = path.join(tmp, name, 'braid.sock');
  const args = [
    '--socket',
    socket,
    '--cache-dir',
    path.join(tmp, name, 'cache'),
    '--metrics-address',
    'off',
    '--bpf-root',
    pinRoot,
    '--policy-dir',
    path.join(tmp, 'policies'),
    '--pod-dir',
    path.join(tmp, 'pods'),
  ];
  const binds = ['usr', 'etc', 'proc', 'sys', 'dev', 'run/netns']
    .map((d) => `mount --rbind /${d} ${hostRoot}/${d}`)
    .join(' && ');
  const argv = withHostRoot
    ? [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        `${binds} && exec "$0" "$@"`,
        agentBin,
        ...args,
        '--host-root',
        hostRoot,
      ]
    : [agentBin, ...args];
  const child = spawn('nsenter', [`--net=/run/netns/${nodeNs}`, '--', ...argv], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH ?? '' },
  });
  agents.push(child);
  for (let i = 0; i < 500 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
  if (!fs.existsSync(socket)) throw new Error(`agent ${name} did not start`);
  return socket;
}

function cni(command: string, containerId: string, netns: string, conf: string): number {
  const env = {
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: `/run/netns/${netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: PLUGINS,
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod',
  };
  const start = process.hrtime.bigint();
  const r = spawnSync('nsenter', [`--net=/run/netns/${nodeNs}`, braid], { input: conf, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${command} ${containerId} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}

async function run(): Promise<void> {
  const base = setUp();
  // Pod namespaces exist before the host-root agent starts: its bind of /run/netns is private.
  const pods = Array.from({ length: iterations + 2 }, (_, i) => {
    const name = `braid-bp-${suffix}-${i}`;
    sh(['ip', 'netns', 'add', name]);
    netnsMade.push(name);
    return name;
  });
  const confs = {
    direct: JSON.stringify({
      ...base,
      cniDir: path.join(tmp, 'direct', 'cache'),
      agentSocket: await startAgent('direct', false),
    }),
    hostRoot: JSON.stringify({
      ...base,
      cniDir: path.join(tmp, 'chroot', 'cache'),
      agentSocket: await startAgent('chroot', true),
    }),
  };
  const t: Record<string, number[]> = {};
  for (const [i, pod] of pods.entries()) {
    const order = i % 2 === 0 ? (['direct', 'hostRoot'] as const) : (['hostRoot', 'direct'] as const);
    for (const mode of order) {
      const add = cni('ADD', `${mode}-${i}`, pod, confs[mode]);
      const del = cni('DEL', `${mode}-${i}`, pod, confs[mode]);
      if (i < 2) continue; // warm-up: page cache, plugin-version cache
      (t[`${mode}Add`] ??= []).push(add);
      (t[`${mode}Del`] ??= []).push(del);
    }
  }
  console.log(
    `braid-agent with and without --host-root: bridge + 3 macvlan, ${iterations} pods, medians in ms (shared machine: compare the ratios)`,
  );
  for (const verb of ['Add', 'Del'] as const) {
    const d = median(t[`direct${verb}`]!);
    const h = median(t[`hostRoot${verb}`]!);
    console.log(
      `${verb.toUpperCase().padEnd(4)} direct ${d.toFixed(1).padStart(7)}  host root ${h.toFixed(1).padStart(7)}  ratio ${(h / d).toFixed(3)}  difference ${(h - d).toFixed(1)}`,
    );
  }
}

try {
  await run();
} finally {
  for (const a of agents) a.kill('SIGTERM');
  await Promise.all(agents.map((a) => (a.exitCode === null ? new Promise((r) => a.once('exit', r)) : undefined)));
  for (const n of netnsMade) spawnSync('ip', ['netns', 'del', n]);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(pinRoot, { recursive: true, force: true });
}
