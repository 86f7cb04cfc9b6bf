import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBenchNode } from './bench-node.ts';
import type { DirectCall } from './bench-pod.ts';

/**
 * The pod of issue 10's benchmarks with braid's defaults (policy on): a bridge cluster network
 * plus three macvlan NADs, on the bench node of bench-node.ts (a node namespace of its own, a
 * throwaway pin root on the host's bpffs and a throwaway policy store: the host's
 * /sys/fs/bpf/braid and /etc are not touched).
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
  /** The single executable's braid-agent (BENCH_SEA_DIR's), with the node's stores and pin root. */
  startAgent(): Promise<{ pid: number; stop(): Promise<void> }>;
  /** One CNI call inside the node namespace; its wall time in ms. */
  cni(plugin: string, command: string, extra: Record<string, string>, conf: string): number;
  cleanup(): void;
}

/** The policy benchmarks' view of the bench node (bench-node.ts): pods with labels, policies. */
export function makePodBed(): PodBed {
  const node = makeBenchNode();
  return {
    tmp: node.tmp,
    nodeNs: node.nodeNs,
    socket: node.socket,
    bpfRoot: node.bpfRoot,
    policyDir: node.policyDir,
    conf: (agentSocket) => JSON.stringify({ ...node.baseConf, agentSocket }),
    direct: node.direct,
    writePod(name, labels) {
      node.writePod(name, 'mv1,mv2,mv3', labels);
      return `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${name}`;
    },
    writePolicy(name, doc) {
      fs.mkdirSync(path.join(node.policyDir, 'bench'), { recursive: true });
      fs.writeFileSync(path.join(node.policyDir, 'bench', `${name}.json`), JSON.stringify(doc));
    },
    newNetns: () => node.podNetns(),
    dropNetns: (name) => node.dropNetns(name),
    startAgent: () => node.startAgent(seaAgent, { BRAID_TRACE: process.env.BRAID_TRACE ?? '' }),
    cni: (plugin, command, extra, conf) => node.cni(plugin, command, extra, conf),
    cleanup: () => node.cleanup(),
  };
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
