import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { PodStore } from '../../src/k8s/pod-store.ts';
import { braidBinary } from './braid-binary.ts';
import { createNetns, destroyAllNetns, type IpLink, type Netns } from './netns.ts';
import { runPlugin, type PluginRun } from './run-plugin.ts';
import { makeSpyPlugin, type SpyPlugin } from './spy-plugin.ts';
import { cleanupTemps, makeTempDir } from './tmp.ts';

/**
 * A test bed for black-box tests of the braid binary: temp directories for braid's confDir,
 * cniDir (cache), nadDir, podDir, the host-local dataDir and spy plugins; a "node" namespace
 * where braid runs (nsenter) so that bridges and host veths stay out of the machine's own
 * namespace; a "pod" namespace as CNI_NETNS. The cluster network is a bridge conflist in confDir.
 * Clean up with destroyAllNetns() and cleanupTemps() in afterEach.
 */

export const REAL_PLUGINS = '/usr/lib/cni';
/** The pod every test talks about unless it says otherwise. */
export const POD = { namespace: 'default', name: 'web' } as const;

export const ANN_NETWORKS = 'k8s.v1.cni.cncf.io/networks';
export const ANN_STATUS = 'k8s.v1.cni.cncf.io/network-status';
export const ANN_DEFAULT = 'v1.multus-cni.io/default-network';
export const CRI_ANNOTATIONS = 'io.kubernetes.cri.pod-annotations';

export { braidBinary, braidUnavailable, isRoot, removeBraidBinary, repoRoot } from './braid-binary.ts';

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

const IP_FILE = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]*)$/i;

/** Links with their kind (`ip -d`): bridges survive a bridge plugin's DEL by design. */
async function nodeLinks(ns: Netns): Promise<(IpLink & { linkinfo?: { info_kind?: string } })[]> {
  return ns.ipJson(['-d', 'link', 'show']);
}

export function spyConflist(
  name: string,
  plugins: Record<string, unknown>[],
  cniVersion = '1.0.0',
  extra: Record<string, unknown> = {},
) {
  return { cniVersion, name, ...extra, plugins };
}

/** What the bed's parts share: its directories, its namespaces and the node's links before the test. */
interface BedState {
  root: string;
  confDir: string;
  cniDir: string;
  nadDir: string;
  podDir: string;
  ipamDir: string;
  spyDir: string;
  node: Netns;
  /** The pod namespaces; the first is `bed.pod`. */
  pods: Netns[];
  /** Node links that are not the test's doing (the loopback, veths made by nodeVeth()). */
  baseline: Set<string>;
  containerId: string;
  clusterFile: string;
}

const hostLocalIpam = (ipamDir: string, subnet: string, extra: Record<string, unknown> = {}) => ({
  type: 'host-local',
  dataDir: ipamDir,
  ranges: [[{ subnet }]],
  ...extra,
});

/** The temp directories, the node and first pod namespace, and the cluster conflist. */
async function newBedState(): Promise<BedState> {
  const root = makeTempDir('braid-t-bed');
  const dir = (name: string) => {
    const d = join(root, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const confDir = dir('conf');
  const ipamDir = dir('ipam');
  const node = await createNetns('braid-t-node');
  await node.ip(['link', 'set', 'lo', 'up']);
  const pods: Netns[] = [await createNetns('braid-t-pod')];
  const baseline = new Set((await node.links()).map((l) => l.ifname));
  const clusterFile = join(confDir, '10-cluster.conflist');
  writeFileSync(
    clusterFile,
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cluster',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipam: hostLocalIpam(ipamDir, '10.88.0.0/24', { routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }] }),
        },
      ],
    }),
  );
  const [cniDir, nadDir, podDir, spyDir] = ['cache', 'nads', 'pods', 'spies'].map(dir) as [
    string,
    string,
    string,
    string,
  ];
  return {
    root,
    confDir,
    cniDir,
    nadDir,
    podDir,
    ipamDir,
    spyDir,
    node,
    pods,
    baseline,
    containerId: `ctr-${hex(6)}`,
    clusterFile,
  };
}

/** One braid call in the node namespace, with the bed's container, pod namespace, pod and conf unless `o` says otherwise. */
function runBraid(s: BedState, bed: BraidBed, command: string, o: BraidRunOptions = {}): Promise<PluginRun> {
  const perContainer = !['STATUS', 'GC', 'VERSION'].includes(command);
  const pick = <T>(v: T | null | undefined, dflt: T | undefined): T | undefined =>
    v === null ? undefined : (v ?? dflt);
  const containerIdValue = pick(o.containerId, perContainer ? s.containerId : undefined);
  const netns = pick(o.netns, perContainer ? bed.pod : undefined);
  const ifname = pick(o.ifname, perContainer ? 'eth0' : undefined);
  const podRef = o.pod === null ? undefined : (o.pod ?? POD);
  const args =
    o.args ??
    (podRef
      ? `IgnoreUnknown=1;K8S_POD_NAMESPACE=${podRef.namespace};K8S_POD_NAME=${podRef.name};K8S_POD_INFRA_CONTAINER_ID=${containerIdValue ?? ''}`
      : undefined);
  return runPlugin(o.binary ?? braidBinary(), {
    command,
    ...(containerIdValue !== undefined ? { containerId: containerIdValue } : {}),
    ...(netns !== undefined ? { netns } : {}),
    ...(ifname !== undefined ? { ifname } : {}),
    ...(args !== undefined && perContainer ? { args } : {}),
    path: o.path ?? [s.spyDir, REAL_PLUGINS],
    stdin: o.conf ?? bed.conf(),
    hostNetns: s.node,
    timeoutMs: o.timeoutMs ?? 30_000,
    ...(o.extraEnv ? { extraEnv: o.extraEnv } : {}),
  });
}

type BedFiles = Pick<BraidBed, 'writeConfFile' | 'writeNad' | 'writePod' | 'podAnnotations' | 'networkStatus'>;

/** The conf files, NAD manifests and Pod manifests a test writes, and the pod store's answers. */
function bedFiles(s: BedState): BedFiles {
  const podFile = (p: PodRef) => join(s.podDir, p.namespace, `${p.name}.yaml`);
  const annotationsOf = async (p: PodRef) => (await new PodStore(s.podDir).getPod(p.namespace, p.name))?.annotations;
  return {
    writeConfFile: (config, fileName) => {
      const file = join(s.confDir, fileName ?? `${String(config.name)}.${'plugins' in config ? 'conflist' : 'conf'}`);
      writeFileSync(file, JSON.stringify(config));
      return file;
    },
    writeNad: (name, config, opts = {}) => {
      const metadata: Record<string, unknown> = { name, namespace: opts.namespace ?? 'default' };
      if (opts.annotations) metadata.annotations = opts.annotations;
      const spec = { config: typeof config === 'string' ? config : JSON.stringify(config) };
      const manifest = { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata, spec };
      writeFileSync(join(s.nadDir, `${metadata.namespace}-${name}.yaml`), stringifyYaml(manifest));
    },
    writePod: (annotations, p = POD) => {
      const file = podFile(p);
      mkdirSync(dirname(file), { recursive: true });
      const metadata = { name: p.name, namespace: p.namespace, ...('uid' in p ? { uid: p.uid } : {}), annotations };
      writeFileSync(file, stringifyYaml({ apiVersion: 'v1', kind: 'Pod', metadata }));
      return file;
    },
    podAnnotations: (p = POD) => annotationsOf(p),
    networkStatus: async (p = POD) => {
      const value = (await annotationsOf(p))?.[ANN_STATUS];
      return value === undefined ? undefined : (JSON.parse(value) as Record<string, any>[]);
    },
  };
}

type BedNetworks = Pick<BraidBed, 'spy' | 'spyNetwork' | 'spyNad' | 'macvlanNad' | 'nodeVeth'>;

/** Spy plugins and the networks made of them, macvlan NADs and the node veths they sit on. */
function bedNetworks(s: BedState, bed: () => BraidBed): BedNetworks {
  return {
    spy: (name) => makeSpyPlugin(s.spyDir, name),
    spyNetwork: (name, plugins, opts = {}) => {
      const confs = plugins.map((p) => (typeof p === 'string' ? { type: p } : p));
      const spies = confs.map((c) => makeSpyPlugin(s.spyDir, String(c.type)));
      const list = spyConflist(name, confs, opts.cniVersion ?? '1.0.0', opts.extra ?? {});
      return { file: bed().writeConfFile(list, opts.fileName ?? `${name}.conflist`), spies };
    },
    spyNad: (name, plugins, opts = {}) => {
      const confs = plugins.map((p) => (typeof p === 'string' ? { type: p } : p));
      const spies = confs.map((c) => makeSpyPlugin(s.spyDir, String(c.type)));
      const nadOpts = opts.namespace ? { namespace: opts.namespace } : {};
      bed().writeNad(name, spyConflist(name, confs, opts.cniVersion ?? '1.0.0', opts.extra ?? {}), nadOpts);
      return spies;
    },
    macvlanNad: async (name, subnet, opts = {}) => {
      const master = opts.master ?? (await bed().nodeVeth());
      const ipam = { ...hostLocalIpam(s.ipamDir, subnet), ...opts.ipam };
      const config = { cniVersion: '1.0.0', name, type: 'macvlan', master, mode: 'bridge', ipam };
      bed().writeNad(name, config, opts.namespace ? { namespace: opts.namespace } : {});
      return master;
    },
    nodeVeth: async () => {
      const a = `vm${hex(3)}`;
      const b = `${a}p`;
      await s.node.ip(['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
      await s.node.ip(['link', 'set', a, 'up']);
      await s.node.ip(['link', 'set', b, 'up']);
      s.baseline.add(a);
      s.baseline.add(b);
      return a;
    },
  };
}

type BedLeftovers = Pick<BraidBed, 'leases' | 'cacheFiles' | 'linkNames' | 'expectNothingLeft'>;

/** What a test looks at afterwards: reservations, cache records and links left behind. */
function bedLeftovers(s: BedState, bed: () => BraidBed): BedLeftovers {
  const leftovers: BedLeftovers = {
    leases: () => {
      if (!existsSync(s.ipamDir)) return [];
      return readdirSync(s.ipamDir)
        .filter((net) => statSync(join(s.ipamDir, net)).isDirectory())
        .flatMap((net) =>
          readdirSync(join(s.ipamDir, net))
            .filter((f) => IP_FILE.test(f))
            .map((f) => `${net}/${f}`),
        )
        .sort();
    },
    cacheFiles: () =>
      existsSync(s.cniDir)
        ? readdirSync(s.cniDir)
            .filter((f) => f.endsWith('.json'))
            .sort()
        : [],
    linkNames: async (ns = bed().pod) => (await ns.links()).map((l) => l.ifname).sort(),
    expectNothingLeft: async (checkPods = s.pods) => {
      for (const p of checkPods) {
        if (!existsSync(p.path)) continue;
        expect(await leftovers.linkNames(p), `links left in pod namespace ${p.name}`).toEqual(['lo']);
      }
      const extra = (await nodeLinks(s.node))
        .filter((l) => !s.baseline.has(l.ifname) && l.linkinfo?.info_kind !== 'bridge')
        .map((l) => l.ifname);
      expect(extra, 'links left in the node namespace').toEqual([]);
      expect(leftovers.leases(), 'host-local reservations left').toEqual([]);
      expect(leftovers.cacheFiles(), 'cache records left').toEqual([]);
    },
  };
  return leftovers;
}

export async function makeBraidBed(): Promise<BraidBed> {
  const s = await newBedState();
  const { root, confDir, cniDir, nadDir, podDir, ipamDir, spyDir, node, clusterFile } = s;
  const bed: BraidBed = {
    root,
    confDir,
    cniDir,
    nadDir,
    podDir,
    ipamDir,
    spyDir,
    node,
    get pod() {
      return s.pods[0]!;
    },
    containerId: s.containerId,
    clusterFile,
    conf: (extra = {}) => ({
      cniVersion: '1.0.0',
      name: 'braid',
      type: 'braid',
      clusterNetwork: clusterFile,
      confDir,
      cniDir,
      // Never the machine's own Multus cache (braid reads it for containers it has no record of).
      multusCniDir: join(root, 'multus'),
      deviceInfoDir: join(root, 'devinfo'),
      binDir: REAL_PLUGINS,
      nadDir,
      podDir,
      // Policy programs have suites of their own (braid-policy, policy-*); here they would only
      // pin into the machine's bpffs.
      policy: { enabled: false },
      ...extra,
    }),
    run: (command, o) => runBraid(s, bed, command, o),
    newPod: async () => {
      const ns = await createNetns('braid-t-pod');
      s.pods.push(ns);
      return ns;
    },
    hostLocal: (subnet, extra) => hostLocalIpam(ipamDir, subnet, extra),
    ...bedFiles(s),
    ...bedNetworks(s, () => bed),
    ...bedLeftovers(s, () => bed),
  };
  return bed;
}

/** Addresses of one interface in a namespace, as `addr/prefix`, global scope only. */
export async function addressesOf(ns: Netns, ifname: string): Promise<string[]> {
  const link = (await ns.addrs()).find((l) => l.ifname === ifname);
  return (link?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

/** Whether a process still runs (a zombie nobody reaped yet counts as gone). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The error object of a failed run, with a readable failure message when it did not fail as expected. */
export function expectCniError(r: PluginRun, code: number): Record<string, any> {
  expect(r.code, `expected failure with code ${code}; stdout: ${r.stdout} stderr: ${r.stderr}`).not.toBe(0);
  expect(r.json, `stdout is not a JSON error: ${r.stdout}`).toBeDefined();
  expect(r.json!.code, `${r.stdout}\n${r.stderr}`).toBe(code);
  expect(typeof r.json!.msg).toBe('string');
  return r.json!;
}

/** A successful run's parsed result (ADD) or an empty stdout (other verbs). */
export function expectOk(r: PluginRun): Record<string, any> | undefined {
  expect(r.code, `expected success; stdout: ${r.stdout} stderr: ${r.stderr}`).toBe(0);
  return r.json;
}

/**
 * The hooks every braid suite needs: the binary built once per file, a fresh bed before each test
 * (handed to `onBed`, which may add the test's common set-up), and namespaces and temp dirs removed
 * after each test, also when it failed. Call it inside the suite's describe.
 */
export function useBraidBed(onBed: (bed: BraidBed) => void | Promise<void>): void {
  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    await onBed(await makeBraidBed());
  });
  afterEach(async () => {
    await destroyAllNetns();
    cleanupTemps();
  });
}
