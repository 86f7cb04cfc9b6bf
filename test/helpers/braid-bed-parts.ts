import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { expect } from 'vitest';
import { PodStore } from '../../src/k8s/pod-store.ts';
import { ANN_STATUS, type BraidBed, bridgeClusterConflist, hex, POD, type PodRef } from './braid-bed-api.ts';
import { createNetns, type IpLink, type Netns } from './netns.ts';
import { makeSpyPlugin } from './spy-plugin.ts';
import { makeTempDir } from './tmp.ts';

// The parts a braid test bed is made of (braid-fixture.ts puts them together): its state (temp
// directories, namespaces, the cluster conflist) and the methods that write files, make networks
// and look for leftovers.

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

/** The bed's fixed facts: its directories, namespaces, container and cluster conflist. */
type BedFacts = Pick<
  BraidBed,
  'root' | 'confDir' | 'cniDir' | 'nadDir' | 'podDir' | 'ipamDir' | 'spyDir' | 'node' | 'containerId' | 'clusterFile'
>;

/** What the bed's parts share: its facts, its pod namespaces and the node's links before the test. */
export interface BedState extends BedFacts {
  /** The pod namespaces; the first is `bed.pod`. */
  pods: Netns[];
  /** Node links that are not the test's doing (the loopback, veths made by nodeVeth()). */
  baseline: Set<string>;
}

export const hostLocalIpam = (ipamDir: string, subnet: string, extra: Record<string, unknown> = {}) => ({
  type: 'host-local',
  dataDir: ipamDir,
  ranges: [[{ subnet }]],
  ...extra,
});

/** The temp directories, the node and first pod namespace, and the cluster conflist. */
export async function newBedState(): Promise<BedState> {
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
    JSON.stringify(
      bridgeClusterConflist(
        hostLocalIpam(ipamDir, '10.88.0.0/24', { routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }] }),
      ),
    ),
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

type BedFiles = Pick<BraidBed, 'writeConfFile' | 'writeNad' | 'writePod' | 'podAnnotations' | 'networkStatus'>;

/** The conf files, NAD manifests and Pod manifests a test writes, and the pod store's answers. */
export function bedFiles(s: BedState): BedFiles {
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
export function bedNetworks(s: BedState, bed: () => BraidBed): BedNetworks {
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
export function bedLeftovers(s: BedState, bed: () => BraidBed): BedLeftovers {
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
