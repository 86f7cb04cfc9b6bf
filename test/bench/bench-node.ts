import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchPodConfs, PLUGINS, timedCni, type DirectCall } from './bench-pod.ts';

/**
 * The node of the pod benchmarks (front-door.ts, parallel-attachments.ts, agent-overhead.ts, and
 * through policy-pod-bed.ts the policy ones): a network
 * namespace with `mvmaster0`, the bench pod's confs and NADs, pod manifests, a braid-agent and the
 * pods' namespaces, all under a temp dir, a pin root and namespaces of its own; `cleanup()` removes
 * every one of them. braid's conf is its defaults (policy on) with the node's own paths.
 */
export interface BenchNode {
  nodeNs: string;
  tmp: string;
  socket: string;
  /** The node's own pin root and policy store (braid's conf and the agent use them). */
  bpfRoot: string;
  policyDir: string;
  /** braid's conf, without `agentSocket`. */
  baseConf: Record<string, unknown>;
  /** The four delegates of the bench pod, for calling them directly (timeDirect). */
  direct: DirectCall[];
  writeNad(name: string, config: unknown): void;
  /** A pod manifest in namespace `bench` whose networks annotation is `networks`, with `labels`. */
  writePod(name: string, networks: string, labels?: Record<string, string>): void;
  podNetns(): string;
  /** Deletes a pod namespace podNetns made (cleanup() deletes those left). */
  dropNetns(name: string): void;
  /** One CNI call in the node namespace: its wall time in ms. */
  cni(plugin: string, command: string, extra: Record<string, string>, conf: string): number;
  /** The CNI environment of a call (also for calls the caller times itself). */
  env(command: string, extra: Record<string, string>): Record<string, string>;
  /** The agent in the node namespace; `env` adds to its environment (e.g. NODE_OPTIONS). */
  startAgent(agentBin: string, env?: Record<string, string>): Promise<{ pid: number; stop: () => Promise<void> }>;
  cleanup(): void;
}

export function makeBenchNode(o: { extraCniPath?: string } = {}): BenchNode {
  const suffix = randomBytes(3).toString('hex');
  const nodeNs = `braid-b-${suffix}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
  const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
  const socket = path.join(tmp, 'agent', 'braid.sock');
  const netnsMade: string[] = [];
  const dirs = Object.fromEntries(['conf', 'nads', 'pods', 'policies'].map((d) => [d, path.join(tmp, d)])) as Record<
    'conf' | 'nads' | 'pods' | 'policies',
    string
  >;
  const sh = (cmd: string[]) => execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  const { bridgeConf, macvlanConf, direct } = benchPodConfs(tmp);

  sh(['ip', 'netns', 'add', nodeNs]);
  sh(['ip', '-n', nodeNs, 'link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0']);
  for (const l of ['mvmaster0', 'mvpeer0', 'lo']) sh(['ip', '-n', nodeNs, 'link', 'set', l, 'up']);
  for (const d of [...Object.values(dirs), path.join(dirs.pods, 'bench')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dirs.conf, '10-cluster.conflist'), JSON.stringify(bridgeConf));

  const env = (command: string, extra: Record<string, string>) => ({
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: command,
    CNI_PATH: o.extraCniPath ? `${PLUGINS}:${o.extraCniPath}` : PLUGINS,
    BRAID_ASSET_DIR: path.join(tmp, 'assets'),
    ...extra,
  });
  const node: BenchNode = {
    nodeNs,
    tmp,
    socket,
    bpfRoot: pinRoot,
    policyDir: dirs.policies,
    baseConf: {
      cniVersion: '1.0.0',
      name: 'braid-bench',
      type: 'braid',
      clusterNetwork: path.join(dirs.conf, '10-cluster.conflist'),
      confDir: dirs.conf,
      cniDir: path.join(tmp, 'cache'),
      binDir: PLUGINS,
      nadDir: dirs.nads,
      podDir: dirs.pods,
      policy: { bpfRoot: pinRoot, policyDir: dirs.policies },
    },
    direct,
    writeNad(name, config) {
      fs.writeFileSync(
        path.join(dirs.nads, `${name}.yaml`),
        `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: ${name}\n  namespace: bench\nspec:\n  config: '${JSON.stringify(config)}'\n`,
      );
    },
    writePod(name, networks, labels = {}) {
      const labelLines = Object.entries(labels).map(([k, v]) => `    ${k}: ${v}\n`);
      const labelBlock = labelLines.length > 0 ? `  labels:\n${labelLines.join('')}` : '';
      fs.writeFileSync(
        path.join(dirs.pods, 'bench', `${name}.yaml`),
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: bench\n${labelBlock}  annotations:\n    k8s.v1.cni.cncf.io/networks: ${networks}\n`,
      );
    },
    podNetns() {
      // The random part: after a dropNetns the count repeats, and the name must not.
      const name = `braid-bp-${suffix}-${netnsMade.length}-${randomBytes(2).toString('hex')}`;
      sh(['ip', 'netns', 'add', name]);
      netnsMade.push(name);
      return name;
    },
    dropNetns(name) {
      spawnSync('ip', ['netns', 'del', name]);
      netnsMade.splice(netnsMade.indexOf(name), 1);
    },
    cni: (plugin, command, extra, conf) => timedCni(nodeNs, plugin, env(command, extra), conf),
    env,
    async startAgent(agentBin, agentEnv = {}) {
      // As benchmarks outside the project start it, plus a pin root and stores of its own.
      const args = ['--socket', socket, '--cache-dir', path.join(tmp, 'cache'), '--metrics-address', 'off'];
      const own = ['--bpf-root', pinRoot, '--policy-dir', dirs.policies, '--pod-dir', dirs.pods];
      const child = spawn('nsenter', [`--net=/run/netns/${nodeNs}`, agentBin, ...args, ...own], {
        env: { PATH: process.env.PATH ?? '', BRAID_ASSET_DIR: path.join(tmp, 'agent-assets'), ...agentEnv },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      for (let i = 0; i < 500 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
      if (!fs.existsSync(socket)) throw new Error(`${agentBin} did not come up on ${socket}`);
      return {
        pid: child.pid!,
        stop: async () => (child.kill('SIGTERM'), void (await new Promise((r) => child.once('exit', r)))),
      };
    },
    cleanup() {
      for (const n of netnsMade) spawnSync('ip', ['netns', 'del', n]);
      spawnSync('ip', ['netns', 'del', nodeNs]);
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.rmSync(pinRoot, { recursive: true, force: true });
    },
  };
  for (const i of [1, 2, 3]) node.writeNad(`mv${i}`, macvlanConf(i));
  node.writePod('pod', 'mv1,mv2,mv3');
  return node;
}
