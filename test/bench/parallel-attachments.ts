/**
 * `parallelAttachments: true` against the default (one attachment at a time), through the native
 * front door (dist/host/braid) with braid's defaults (policy on), side by side in one run:
 *   - the bench pod (a bridge cluster network plus three macvlan networks), with braid-agent and
 *     thin (no agent), ADD and DEL;
 *   - the same pod whose three macvlan networks each chain a `slowstep` plugin that sleeps 100 ms
 *     on ADD and DEL (a stand-in for delegates that wait on something, such as a cloud ENI attach,
 *     Multus #1016), with the agent.
 * The four delegates called directly are the floor. Medians in ms and the parallel/sequential
 * ratios. The agent is started as outside benchmarks start it (dist/sea/braid-agent, else
 * dist/bin/braid-agent, --socket S --cache-dir C --metrics-address off) with a pin root and policy
 * dir of its own. Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/parallel-attachments.ts [pods=20]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';
import { benchPodConfs, timedCni } from './bench-pod.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const front = path.join(root, 'dist/host/braid');
const seaAgent = path.join(root, 'dist/sea/braid-agent');
const agentBin = fs.existsSync(seaAgent) ? seaAgent : path.join(root, 'dist/bin/braid-agent');
const PLUGINS = '/usr/lib/cni';
const pods = Number(process.argv[2] ?? 20);
const suffix = randomBytes(3).toString('hex');
const nodeNs = `braid-b-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
const socket = path.join(tmp, 'agent', 'braid.sock');
const slowBin = path.join(tmp, 'slowbin');
const netnsMade: string[] = [];

const sh = (cmd: string[]) => execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
const cni = (plugin: string, command: string, extra: Record<string, string>, conf: string): number =>
  timedCni(
    nodeNs,
    plugin,
    {
      PATH: process.env.PATH ?? '',
      CNI_COMMAND: command,
      CNI_PATH: `${PLUGINS}:${slowBin}`,
      BRAID_ASSET_DIR: path.join(tmp, 'assets'),
      ...extra,
    },
    conf,
  );

const { bridgeConf, macvlanConf } = benchPodConfs(tmp);

/** A chained plugin that sleeps 100 ms on ADD and DEL and passes prevResult on. */
function writeSlowStep(): void {
  fs.mkdirSync(slowBin, { recursive: true });
  fs.writeFileSync(
    path.join(slowBin, 'slowstep'),
    `#!/bin/sh
conf=$(cat)
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;
ADD) sleep 0.1; printf '%s' "$conf" | jq -c '.prevResult';;
DEL) sleep 0.1;;
esac
`,
    { mode: 0o755 },
  );
}

/** The node namespace, the confs, NADs and the two pods' manifests; returns braid's conf (defaults, policy on). */
function setUp(): Record<string, unknown> {
  sh(['ip', 'netns', 'add', nodeNs]);
  sh(['ip', '-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  for (const l of ['mvmaster0', 'mvpeer0', 'lo']) sh(['ip', '-n', nodeNs, 'link', 'set', l, 'up']);
  const dirs = Object.fromEntries(['conf', 'nads', 'pods/bench', 'policies'].map((d) => [d, path.join(tmp, d)]));
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dirs.conf!, '10-cluster.conflist'), JSON.stringify(bridgeConf));
  const nad = (name: string, config: unknown) =>
    fs.writeFileSync(
      path.join(dirs.nads!, `${name}.yaml`),
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: ${name}\n  namespace: bench\nspec:\n  config: '${JSON.stringify(config)}'\n`,
    );
  for (const i of [1, 2, 3]) {
    nad(`mv${i}`, macvlanConf(i));
    const { cniVersion, name, ...plugin } = macvlanConf(i + 3);
    nad(`slow${i}`, { cniVersion, name, plugins: [plugin, { type: 'slowstep' }] });
  }
  const pod = (name: string, networks: string) =>
    fs.writeFileSync(
      path.join(dirs['pods/bench']!, `${name}.yaml`),
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: bench\n  annotations:\n    k8s.v1.cni.cncf.io/networks: ${networks}\n`,
    );
  pod('pod', 'mv1,mv2,mv3');
  pod('slowpod', 'slow1,slow2,slow3');
  return {
    cniVersion: '1.0.0',
    name: 'braid-bench',
    type: 'braid',
    clusterNetwork: path.join(dirs.conf!, '10-cluster.conflist'),
    confDir: dirs.conf,
    cniDir: path.join(tmp, 'cache'),
    binDir: PLUGINS,
    nadDir: dirs.nads,
    podDir: path.join(tmp, 'pods'),
    policy: { bpfRoot: pinRoot, policyDir: dirs.policies },
  };
}

function podNetns(): string {
  const name = `braid-bp-${suffix}-${netnsMade.length}`;
  sh(['ip', 'netns', 'add', name]);
  netnsMade.push(name);
  return name;
}

async function startAgent(): Promise<() => Promise<void>> {
  const args = ['--socket', socket, '--cache-dir', path.join(tmp, 'cache'), '--metrics-address', 'off'];
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${nodeNs}`,
      agentBin,
      ...args,
      '--bpf-root',
      pinRoot,
      '--policy-dir',
      path.join(tmp, 'policies'),
    ],
    { env: { PATH: process.env.PATH ?? '', BRAID_ASSET_DIR: path.join(tmp, 'agent-assets') }, stdio: 'inherit' },
  );
  for (let i = 0; i < 500 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
  if (!fs.existsSync(socket)) throw new Error(`${agentBin} did not come up on ${socket}`);
  return async () => (child.kill('SIGTERM'), void (await new Promise((r) => child.once('exit', r))));
}

const leftovers = () =>
  fs.existsSync(path.join(tmp, 'cache'))
    ? fs.readdirSync(path.join(tmp, 'cache')).filter((f) => f.endsWith('.json'))
    : [];

async function run(): Promise<void> {
  if (!fs.existsSync(front)) throw new Error(`${front} is missing: run npm run build`);
  writeSlowStep();
  const base = setUp();
  const noAgent = path.join(tmp, 'no-agent', 'braid.sock');
  const confs = {
    agentSeq: JSON.stringify({ ...base, agentSocket: socket }),
    agentPar: JSON.stringify({ ...base, agentSocket: socket, parallelAttachments: true }),
    thinSeq: JSON.stringify({ ...base, agentSocket: noAgent }),
    thinPar: JSON.stringify({ ...base, agentSocket: noAgent, parallelAttachments: true }),
  };
  const stopAgent = await startAgent();
  const t: Record<string, number[]> = {};
  const record = (key: string, ms: number) => (t[key] ??= []).push(ms);
  const direct: [string, string, Record<string, unknown>][] = [
    ['bridge', 'eth0', bridgeConf.plugins[0]!],
    ...[1, 2, 3].map((i): [string, string, Record<string, unknown>] => ['macvlan', `net${i}`, macvlanConf(i)]),
  ];
  const rows: [string, keyof typeof confs, string][] = [
    ['agent, sequential (default)', 'agentSeq', 'pod'],
    ['agent, parallelAttachments', 'agentPar', 'pod'],
    ['thin, sequential (default)', 'thinSeq', 'pod'],
    ['thin, parallelAttachments', 'thinPar', 'pod'],
    ['agent, 100 ms step, sequential', 'agentSeq', 'slowpod'],
    ['agent, 100 ms step, parallel', 'agentPar', 'slowpod'],
  ];
  for (let i = 0; i < pods + 2; i++) {
    const ns = podNetns();
    const b = { CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0' };
    const runs: [string, number, number][] = rows.map(([label, conf, pod], r) => {
      const e = {
        ...b,
        CNI_CONTAINERID: `c${i}-${r}`,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${pod}`,
      };
      return [label, cni(front, 'ADD', e, confs[conf]), cni(front, 'DEL', e, confs[conf])];
    });
    let da = 0;
    let dd = 0;
    const call = (type: string, verb: string, ifname: string, c: Record<string, unknown>) =>
      cni(
        path.join(PLUGINS, type),
        verb,
        { ...b, CNI_CONTAINERID: `d${i}`, CNI_IFNAME: ifname },
        JSON.stringify({ cniVersion: '1.0.0', name: 'bench-cluster', ...c }),
      );
    for (const [type, ifname, c] of direct) da += call(type, 'ADD', ifname, c);
    for (const [type, ifname, c] of [...direct].reverse()) dd += call(type, 'DEL', ifname, c);
    if (i < 2) continue; // warm-up: page cache, compile cache, plugin-version cache
    for (const [label, add, del] of runs) {
      record(`${label} ADD`, add);
      record(`${label} DEL`, del);
    }
    record('direct ADD', da);
    record('direct DEL', dd);
  }
  await stopAgent();
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(
    `parallelAttachments through dist/host/braid, defaults (policy on): bridge + 3 macvlan, ${pods} pods, medians in ms`,
  );
  console.log(`${'path'.padEnd(34)}     ADD      DEL   parallel/sequential ADD  DEL`);
  console.log(
    `${'the four delegates directly'.padEnd(34)}${f(median(t['direct ADD']!))} ${f(median(t['direct DEL']!))}`,
  );
  for (let r = 0; r < rows.length; r += 2) {
    const [seq, par] = [rows[r]![0], rows[r + 1]![0]];
    const m = (label: string, verb: string) => median(t[`${label} ${verb}`]!);
    console.log(`${seq.padEnd(34)}${f(m(seq, 'ADD'))} ${f(m(seq, 'DEL'))}`);
    console.log(
      `${par.padEnd(34)}${f(m(par, 'ADD'))} ${f(m(par, 'DEL'))}                    ${(m(par, 'ADD') / m(seq, 'ADD')).toFixed(2)}  ${(m(par, 'DEL') / m(seq, 'DEL')).toFixed(2)}`,
    );
  }
  console.log(`left behind: ${leftovers().length} cache records`);
  console.log('(the machine is shared: absolute times are noisy; compare the ratios of this one run)');
}

try {
  await run();
} finally {
  for (const n of netnsMade) spawnSync('ip', ['netns', 'del', n]);
  spawnSync('ip', ['netns', 'del', nodeNs]);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(pinRoot, { recursive: true, force: true });
}
