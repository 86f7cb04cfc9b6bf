import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/exec.ts';
import { createNetns, destroyAllNetns, vethPair } from '../helpers/netns.ts';
import { createPodman, parseIpAddrText, podmanUnavailable, type Podman } from '../helpers/podman.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// braid behind a real container runtime: podman calls dist/host/braid (the front door, which runs
// thin here: no agent) as the only plugin of a
// network; braid gives the container the cluster network (a bridge conflist in its confDir) as eth0
// and the pod's networks annotation (a macvlan NAD from its nadDir) as net1.
//
// What podman 4.3 sends (captured by podman-bridge.test.ts): CNI_ARGS =
// "IgnoreUnknown=1;K8S_POD_NAME=<container name>", no K8S_POD_NAMESPACE, no K8S_POD_UID, and no
// io.kubernetes.cri.pod-annotations capability argument even when the conf declares it. So the pod
// store must supply the annotations, under the container's name.
//
// braid's rule for that (src/multiplex/resolve.ts podRefFromArgs): a pod name without a namespace is
// in "default", as kubectl has it, so the pod lives at <podDir>/default/<container name>.json.

const repoRoot = resolve(import.meta.dirname, '../..');
const braidBin = join(repoRoot, 'dist', 'host', 'braid');
const unavailable = podmanUnavailable();

describe.skipIf(unavailable !== undefined)('podman with braid as the network plugin', () => {
  let podman: Podman;
  const links: string[] = [];

  beforeAll(async () => {
    // dist/host/braid-node is the single executable: its assets and code cache go to a temp dir,
    // not the node's /run/braid.
    podman = createPodman([join(repoRoot, 'dist', 'host'), '/usr/lib/cni'], {
      BRAID_ASSET_DIR: makeTempDir('braid-t-assets'),
    });
    await podman.ensureImage();
  });

  afterEach(async () => {
    for (const link of links.splice(0)) await runCommand(['ip', 'link', 'del', link]);
    await destroyAllNetns();
  });

  afterAll(async () => {
    await podman?.destroy();
    cleanupTemps();
  });

  const hex = () => randomBytes(3).toString('hex');

  /** The cluster network: a bridge conflist in braid's confDir; the bridge is in the host namespace. */
  function clusterConflist(confDir: string, prefix: string): { file: string; dataDir: string } {
    const bridge = `brt${hex()}`;
    links.push(bridge);
    const dataDir = makeTempDir('braid-ipam-cluster');
    const file = join(confDir, '10-cluster.conflist');
    const ipam = { type: 'host-local', dataDir, ranges: [[{ subnet: `${prefix}.0/24` }]] };
    writeFileSync(
      file,
      JSON.stringify({ cniVersion: '1.0.0', name: 'cluster', plugins: [{ type: 'bridge', bridge, ipam }] }),
    );
    return { file, dataDir };
  }

  /** A macvlan NAD on `master`, in the NAD directory, as `kubectl apply` would take it. */
  function macvlanNad(nadDir: string, master: string, prefix: string): { dataDir: string } {
    const dataDir = makeTempDir('braid-ipam-macvlan');
    const config = {
      cniVersion: '1.0.0',
      name: 'macvlan-e2e',
      type: 'macvlan',
      master,
      mode: 'bridge',
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: `${prefix}.0/24` }]] },
    };
    const nad = {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'macvlan-e2e', namespace: 'default' },
      spec: { config: JSON.stringify(config) },
    };
    writeFileSync(join(nadDir, 'macvlan-e2e.json'), JSON.stringify(nad, null, 2));
    return { dataDir };
  }

  function podStoreFile(podDir: string, podName: string, annotations: Record<string, string>): void {
    mkdirSync(join(podDir, 'default'), { recursive: true });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace: 'default', annotations } };
    writeFileSync(join(podDir, 'default', `${podName}.json`), JSON.stringify(pod, null, 2));
  }

  function braidConflist(dirs: {
    clusterNetwork: string;
    confDir: string;
    cniDir: string;
    podDir: string;
    nadDir: string;
  }): void {
    podman.writeConflist({
      cniVersion: '1.0.0',
      name: 'braid-e2e',
      plugins: [
        {
          type: 'braid',
          ...dirs,
          binDir: '/usr/lib/cni',
          capabilities: { 'io.kubernetes.cri.pod-annotations': true },
          // Pins would land in the machine's bpffs; policy has suites of its own.
          policy: { enabled: false },
        },
      ],
    });
  }

  /** host-local's lease files (named after the address) left in a dataDir. */
  function leases(dataDir: string, network: string): string[] {
    const dir = join(dataDir, network);
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^[\d.]+$|:/.test(f)) : [];
  }

  it('gives the container eth0 from the cluster network and net1 from the annotation, and DEL releases both', async () => {
    expect(existsSync(braidBin), `${braidBin} is missing: run npm run build`).toBe(true);
    const clusterPrefix = `10.213.${randomInt(1, 125)}`;
    const macvlanPrefix = `10.213.${randomInt(125, 250)}`;
    const confDir = makeTempDir('braid-confdir');
    const nadDir = makeTempDir('braid-nads');
    const podDir = makeTempDir('braid-pods');
    const cniDir = makeTempDir('braid-cache');
    // The macvlan master is the host end of a veth pair whose other end is in a test namespace:
    // destroying that namespace removes the pair.
    const peerNs = await createNetns();
    const master = `mvm${hex()}`;
    await vethPair(null, peerNs, master, 'eth0');
    const cluster = clusterConflist(confDir, clusterPrefix);
    const macvlan = macvlanNad(nadDir, master, macvlanPrefix);
    const podName = `braid-e2e-${hex()}`;
    podStoreFile(podDir, podName, { 'k8s.v1.cni.cncf.io/networks': 'macvlan-e2e' });
    braidConflist({ clusterNetwork: cluster.file, confDir, cniDir, podDir, nadDir });

    const run = await podman.run({ network: 'braid-e2e', name: podName });

    expect(run.code, run.stderr).toBe(0);
    const seen = parseIpAddrText(run.stdout);
    expect(
      seen.map((l) => l.ifname),
      run.stdout,
    ).toEqual(expect.arrayContaining(['eth0', 'net1']));
    const eth0 = seen.find((l) => l.ifname === 'eth0');
    const net1 = seen.find((l) => l.ifname === 'net1');
    expect(eth0?.addr_info, run.stdout).toContainEqual({ family: 'inet', local: `${clusterPrefix}.2`, prefixlen: 24 });
    expect(net1?.addr_info, run.stdout).toContainEqual({ family: 'inet', local: `${macvlanPrefix}.2`, prefixlen: 24 });
    // podman removed the container: braid's DEL must have reached both delegates.
    expect(leases(cluster.dataDir, 'cluster')).toEqual([]);
    expect(leases(macvlan.dataDir, 'macvlan-e2e')).toEqual([]);
  });
});
