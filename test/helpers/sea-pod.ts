import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createNetns, vethPair } from './netns.ts';
import { entries } from './sea-files.ts';
import { makeTempDir } from './tmp.ts';

/**
 * The pod the single-executable suite runs under podman and by hand: braid-veth as the cluster
 * network, braid's plugin conf around it, a macvlan NAD on a host link, and what must be gone after.
 */

export const filesUnder = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile())
    : [];
/** host-local's reservations: files named after an address, under <dataDir>/<network>/. */
export const leases = (dataDir: string): string[] => filesUnder(dataDir).filter((f) => /\/[\d.]+$/.test(f));
/** braid-veth's pinned tcx links under a pin root. */
export const linkPins = (pinRoot: string): string[] => entries(join(pinRoot, 'veth', 'links'));

export interface VethNetwork {
  conf: { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  stateDir: string;
  dataDir: string;
  pinRoot: string;
}

/** braid-veth's conflist: pins under `pinRoot`, state and leases in temp dirs. */
export function vethNetworkIn(pinRoot: string, subnet: string): VethNetwork {
  const stateDir = makeTempDir('braid-t-vethstate');
  const dataDir = makeTempDir('braid-t-ipam');
  const plugin = {
    type: 'braid-veth',
    bpfRoot: pinRoot,
    stateDir,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  };
  return { conf: { cniVersion: '1.0.0', name: 'podnet', plugins: [plugin] }, stateDir, dataDir, pinRoot };
}

/** braid-veth's DEL (or failed ADD) left no reservation, endpoint record or pinned tcx link. */
export function expectNoVethAttachment(n: VethNetwork): void {
  expect(leases(n.dataDir), 'host-local reservations left').toEqual([]);
  expect(entries(join(n.stateDir, 'endpoints')), 'braid-veth endpoint records left').toEqual([]);
  expect(linkPins(n.pinRoot), 'pinned tcx links left').toEqual([]);
}

/** braid's plugin conf with braid-veth as the cluster network and the pod default/<podName> in its store. */
export function braidPlugin(
  cluster: VethNetwork,
  binDir: string,
  podName: string,
  annotations: Record<string, string> = {},
) {
  const dir = (name: string) => makeTempDir(`braid-t-${name}`);
  const conf = {
    type: 'braid',
    confDir: dir('confdir'),
    cniDir: dir('cache'),
    podDir: dir('pods'),
    nadDir: dir('nads'),
    binDir,
    policy: { enabled: false },
  };
  const clusterNetwork = join(conf.confDir, '10-podnet.conflist');
  writeFileSync(clusterNetwork, JSON.stringify(cluster.conf));
  mkdirSync(join(conf.podDir, 'default'));
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace: 'default', annotations } };
  writeFileSync(join(conf.podDir, 'default', `${podName}.json`), JSON.stringify(pod));
  return { ...conf, clusterNetwork };
}

/**
 * A macvlan NAD `macvlan-sea` in `nadDir` on a new host link `master` (the host end of a veth pair
 * into a test namespace), pushed to `hostLinks` for the caller to delete.
 */
export async function macvlanNadOn(
  master: string,
  hostLinks: string[],
  nadDir: string,
  prefix: string,
): Promise<{ dataDir: string }> {
  hostLinks.push(master);
  await vethPair(null, await createNetns(), master, 'eth0');
  const dataDir = makeTempDir('braid-t-ipam-macvlan');
  const ipam = { type: 'host-local', dataDir, ranges: [[{ subnet: `${prefix}.0/24` }]] };
  const config = { cniVersion: '1.0.0', name: 'macvlan-sea', type: 'macvlan', master, mode: 'bridge', ipam };
  const nad = {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name: 'macvlan-sea', namespace: 'default' },
    spec: { config: JSON.stringify(config) },
  };
  writeFileSync(join(nadDir, 'macvlan-sea.json'), JSON.stringify(nad));
  return { dataDir };
}
