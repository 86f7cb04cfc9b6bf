import { randomBytes } from 'node:crypto';
import type { Netns } from './netns.ts';
import type { PluginRun } from './run-plugin.ts';
import type { SpyPlugin } from './spy-plugin.ts';

// What braid's black-box suites see of a test bed (braid-fixture.ts re-exports all of it): the
// constants they name, the bed's interface and the options of a braid run.

export const REAL_PLUGINS = '/usr/lib/cni';
/** The pod every test talks about unless it says otherwise. */
export const POD = { namespace: 'default', name: 'web' } as const;

export const ANN_NETWORKS = 'k8s.v1.cni.cncf.io/networks';
export const ANN_STATUS = 'k8s.v1.cni.cncf.io/network-status';
export const ANN_DEFAULT = 'v1.multus-cni.io/default-network';
export const CRI_ANNOTATIONS = 'io.kubernetes.cri.pod-annotations';

export const hex = (bytes = 3): string => randomBytes(bytes).toString('hex');

export interface PodRef {
  namespace: string;
  name: string;
}

export interface BraidRunOptions {
  /** braid's conf (stdin); a string is sent as it is. Default bed.conf(). */
  conf?: unknown;
  /** null: CNI_CONTAINERID unset. Default bed.containerId (STATUS/GC/VERSION: unset). */
  containerId?: string | null;
  /** null: CNI_NETNS unset. Default bed.pod (STATUS/GC/VERSION: unset). */
  netns?: Netns | string | null;
  /** null: CNI_IFNAME unset. Default eth0 (STATUS/GC/VERSION: unset). */
  ifname?: string | null;
  /** The pod in CNI_ARGS (default POD); null for no K8S_* keys. */
  pod?: PodRef | null;
  /** CNI_ARGS verbatim, instead of the ones built from `pod`. */
  args?: string;
  /** CNI_PATH; default [spyDir, /usr/lib/cni]. */
  path?: string | string[];
  extraEnv?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** The braid executable to run instead of braidBinary() (e.g. a single-executable build). */
  binary?: string;
}

export interface SpyNetOptions {
  cniVersion?: string;
  fileName?: string;
  /** Top-level conflist keys (disableCheck, disableGC, ...). */
  extra?: Record<string, unknown>;
}

export interface BraidBed {
  root: string;
  confDir: string;
  cniDir: string;
  nadDir: string;
  podDir: string;
  ipamDir: string;
  /** A CNI_PATH directory for spy plugins. */
  spyDir: string;
  node: Netns;
  pod: Netns;
  containerId: string;
  /** The cluster conflist: bridge `cni0`, host-local 10.88.0.0/24 (gateway .1, explicit default route). */
  clusterFile: string;
  /** braid's conf with the bed's directories; `extra` keys are merged over it. */
  conf(extra?: Record<string, unknown>): Record<string, unknown>;
  run(command: string, opts?: BraidRunOptions): Promise<PluginRun>;
  /** Another pod namespace (destroyed with the others). */
  newPod(): Promise<Netns>;
  spy(name: string): SpyPlugin;
  /** host-local IPAM in the bed's dataDir. */
  hostLocal(subnet: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Writes a conf or conflist into confDir (file name `<name>.conf[list]`) and returns its path. */
  writeConfFile(config: Record<string, unknown>, fileName?: string): string;
  /** Writes a NAD manifest (YAML, as for kubectl apply) into nadDir. */
  writeNad(
    name: string,
    config: Record<string, unknown> | string,
    opts?: { namespace?: string; annotations?: Record<string, string> },
  ): void;
  /**
   * A conflist of spy plugins in confDir (`<fileName>`, default `<name>.conflist`); plugin entries
   * are a spy name or a plugin conf whose `type` is a spy name. Returns the file and the spies.
   */
  spyNetwork(
    name: string,
    plugins: (string | Record<string, unknown>)[],
    opts?: SpyNetOptions,
  ): { file: string; spies: SpyPlugin[] };
  /** A NAD whose spec.config is a conflist of spies (CNI name = NAD name). */
  spyNad(
    name: string,
    plugins: (string | Record<string, unknown>)[],
    opts?: SpyNetOptions & { namespace?: string },
  ): SpyPlugin[];
  /**
   * A macvlan NAD (bridge mode, host-local `subnet`) on a fresh node veth unless `master` is given;
   * returns the master's name.
   */
  macvlanNad(
    name: string,
    subnet: string,
    opts?: { namespace?: string; master?: string; ipam?: Record<string, unknown> },
  ): Promise<string>;
  /** Writes a Pod manifest (YAML) into the pod store. */
  writePod(annotations: Record<string, string>, pod?: PodRef & { uid?: string }): string;
  /**
   * The pod's annotations as the pod store answers them (braid keeps what it writes, such as
   * network-status, beside the manifest); undefined when the store does not know the pod.
   */
  podAnnotations(pod?: PodRef): Promise<Record<string, string> | undefined>;
  /** The network-status annotation, parsed. */
  networkStatus(pod?: PodRef): Promise<Record<string, any>[] | undefined>;
  /** A veth pair in the node namespace, both ends up; returns the first end (a macvlan master). */
  nodeVeth(): Promise<string>;
  /** host-local reservations left under the dataDir, as `<network>/<ip>`. */
  leases(): string[];
  /** braid's cache records (`*.json` directly in cniDir). */
  cacheFiles(): string[];
  /** Link names of a namespace (the pod by default). */
  linkNames(ns?: Netns): Promise<string[]>;
  /** Pod and node namespaces hold nothing braid made, no reservation and no cache record is left. */
  expectNothingLeft(pods?: Netns[]): Promise<void>;
}

/** The cluster network the suites use: a bridge `cni0` acting as gateway, with `ipam` as given. */
export function bridgeClusterConflist(ipam: Record<string, unknown>): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'cluster', plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipam }] };
}
