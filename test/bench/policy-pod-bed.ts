import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPodConfs, PLUGINS, type DirectCall } from './bench-pod.ts';

/**
 * The pod of issue 10's benchmarks with braid's defaults (policy on): a bridge cluster network
 * plus three macvlan NADs, in a node namespace of its own, with a throwaway pin root on the
 * host's bpffs and a throwaway policy store (the host's /sys/fs/bpf/braid and /etc are not touched).
 */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** BENCH_SEA_DIR: another build's single executables (e.g. an earlier commit's, for before/after figures). */
const seaDir = process.env.BENCH_SEA_DIR ?? path.join(root, 'dist/sea');
export const seaBraid = path.join(seaDir, 'braid');
/**
 * What the runtime executes on a host: the native front door (dist/host/braid), which hands the call
 * to the agent or execs the single executable. An earlier build without dist/host (BENCH_SEA_DIR)
 * is measured through its single executable.
 */
export const hostBraid = process.env.BENCH_SEA_DIR ? seaBraid : path.join(root, 'dist/host/braid');
export const seaAgent = path.join(seaDir, 'braid-agent');

const sh = (cmd: string[]) => execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });

export interface PodBed {
  tmp: string;
  nodeNs: string;
  socket: string;
  bpfRoot: string;
  policyDir: string;
  /** braid's conf; agentSocket '' for thin mode. */
  conf(agentSocket: string): string;
  /** The four delegates' confs, in ADD order, with the interface each makes. */
  direct: DirectCall[];
  /** A pod manifest (labels, the three macvlan networks); returns CNI_ARGS for it. */
  writePod(name: string, labels: Record<string, string>): string;
  /** A MultiNetworkPolicy in the local store. */
  writePolicy(name: string, doc: Record<string, unknown>): void;
  newNetns(): string;
  dropNetns(name: string): void;
  startAgent(): Promise<{ pid: number; stop(): Promise<void> }>;
  /** One CNI call inside the node namespace; its wall time in ms. */
  cni(plugin: string, command: string, extra: Record<string, string>, conf: string): number;
  cleanup(): void;
}

export function makePodBed(): PodBed {
  const suffix = randomBytes(3).toString('hex');
  const nodeNs = `braid-b-${suffix}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
  const bpfRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
  const dirs = Object.fromEntries(
    ['conf', 'nads', 'pods/bench', 'policies', 'ipam'].map((d) => [d, path.join(tmp, d)]),
  );
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const netns: string[] = [];
  const { bridgeConf, macvlanConf: macvlan, direct } = benchPodConfs(tmp);
  sh(['ip', 'netns', 'add', nodeNs]);
  sh(['ip', '-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  for (const l of ['mvmaster0', 'mvpeer0', 'lo']) sh(['ip', '-n', nodeNs, 'link', 'set', l, 'up']);
  const clusterFile = path.join(dirs.conf!, '10-cluster.conflist');
  fs.writeFileSync(clusterFile, JSON.stringify(bridgeConf));
  for (const i of [1, 2, 3]) {
    fs.writeFileSync(
      path.join(dirs.nads!, `mv${i}.yaml`),
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: mv${i}\n  namespace: bench\nspec:\n  config: '${JSON.stringify(macvlan(i))}'\n`,
    );
  }
  const socket = path.join(tmp, 'agent', 'braid.sock');
  const env = (command: string, extra: Record<string, string>) => ({
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: command,
    CNI_PATH: PLUGINS,
    BRAID_ASSET_DIR: path.join(tmp, 'assets'),
    ...extra,
  });
  const bed: PodBed = {
    tmp,
    nodeNs,
    socket,
    bpfRoot,
    policyDir: dirs.policies!,
    conf: (agentSocket) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'braid-bench',
        type: 'braid',
        clusterNetwork: clusterFile,
        confDir: dirs.conf,
        cniDir: path.join(tmp, 'cache'),
        binDir: PLUGINS,
        nadDir: dirs.nads,
        podDir: path.join(tmp, 'pods'),
        agentSocket,
        // braid's defaults (policy on), with the pin root and the policy store of this run.
        policy: { bpfRoot, policyDir: dirs.policies },
      }),
    direct,
    writePod(name, labels) {
      const labelLines = Object.entries(labels)
        .map(([k, v]) => `    ${k}: ${v}\n`)
        .join('');
      fs.writeFileSync(
        path.join(dirs['pods/bench']!, `${name}.yaml`),
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: bench\n  labels:\n${labelLines}  annotations:\n    k8s.v1.cni.cncf.io/networks: mv1,mv2,mv3\n`,
      );
      return `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${name}`;
    },
    writePolicy(name, doc) {
      fs.mkdirSync(path.join(dirs.policies!, 'bench'), { recursive: true });
      fs.writeFileSync(path.join(dirs.policies!, 'bench', `${name}.json`), JSON.stringify(doc));
    },
    newNetns() {
      const name = `braid-bp-${suffix}-${netns.length}-${randomBytes(2).toString('hex')}`;
      sh(['ip', 'netns', 'add', name]);
      netns.push(name);
      return name;
    },
    dropNetns(name) {
      spawnSync('ip', ['netns', 'del', name]);
      netns.splice(netns.indexOf(name), 1);
    },
    async startAgent() {
      // As benchmarks outside the project start it; no Kubernetes access: it serves calls only.
      const child = spawn(
        'nsenter',
        [
          `--net=/run/netns/${nodeNs}`,
          seaAgent,
          '--socket',
          socket,
          '--cache-dir',
          path.join(tmp, 'cache'),
          '--metrics-address',
          'off',
          // Its own stores and pin root: the node's defaults (/etc/cni/braid, /sys/fs/bpf/braid) stay untouched.
          '--bpf-root',
          bpfRoot,
          '--policy-dir',
          path.join(tmp, 'policies'),
          '--pod-dir',
          path.join(tmp, 'pods'),
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            BRAID_ASSET_DIR: path.join(tmp, 'agent-assets'),
            BRAID_TRACE: process.env.BRAID_TRACE ?? '',
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      for (let i = 0; i < 500 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
      return {
        pid: child.pid!,
        stop: async () => (child.kill('SIGTERM'), void (await new Promise((r) => child.once('exit', r)))),
      };
    },
    cni(plugin, command, extra, conf) {
      const start = process.hrtime.bigint();
      const r = spawnSync('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], {
        input: conf,
        env: env(command, extra),
        encoding: 'utf8',
      });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (r.status !== 0) throw new Error(`${path.basename(plugin)} ${command} failed: ${r.stdout} ${r.stderr}`);
      return ms;
    },
    cleanup() {
      for (const n of [...netns]) spawnSync('ip', ['netns', 'del', n]);
      spawnSync('ip', ['netns', 'del', nodeNs]);
      fs.rmSync(bpfRoot, { recursive: true, force: true });
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  return bed;
}

/** A policy on mv1 selecting `app: selected` pods, letting in only `app: client` pods. */
export function serverPolicy(): Record<string, unknown> {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1beta1',
    kind: 'MultiNetworkPolicy',
    metadata: { name: 'mv1-from-clients', namespace: 'bench', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'mv1' } },
    spec: {
      podSelector: { matchLabels: { app: 'selected' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
    },
  };
}
