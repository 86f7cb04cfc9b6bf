import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_DEFAULT,
  ANN_NETWORKS,
  ANN_STATUS,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  type BraidBed,
  type PodRef,
} from '../helpers/braid-fixture.ts';
import {
  bridgeConflist,
  closeAllKubeBeds,
  macvlanConf,
  podInterfaces,
  startKubeBed,
  type KubeBed,
} from '../helpers/kube-fixture.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 3, namespaces, through the braid binary against the fake API server: namespaceIsolation
// and globalNamespaces, systemNamespaces compared with the pod's namespace (not its name, Multus
// #1205), and v1.multus-cni.io/default-network replacing the cluster network.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid on the Kubernetes API: namespaces and the default network', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let master: string;

  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
    master = await bed.nodeVeth();
  });
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const nad = (namespace: string, name: string, subnet: string) =>
    kube.api.setNad(namespace, name, JSON.stringify(macvlanConf(name, master, subnet, bed.ipamDir)));
  const statusOf = (p: PodRef) =>
    JSON.parse(kube.api.pod(p.namespace, p.name)!.metadata.annotations![ANN_STATUS]!) as Record<string, any>[];

  /** ADD for `pod` in its own netns and container; returns the interfaces, then DELs. */
  async function addAndDel(pod: PodRef, conf: Record<string, unknown>, ns: Netns, containerId: string) {
    const opts = { conf, pod, netns: ns, containerId };
    expectOk(await bed.run('ADD', opts));
    const ifs = await podInterfaces(ns);
    const status = statusOf(pod);
    expectOk(await bed.run('DEL', opts));
    return { ifs, status };
  }

  describe('namespaceIsolation', () => {
    const pod = { namespace: 'team-a', name: 'app' };
    let conf: Record<string, unknown>;
    beforeEach(() => {
      conf = kube.conf(bed.conf({ namespaceIsolation: true, globalNamespaces: 'shared' }));
      nad('team-a', 'net-a', '10.40.1.0/24');
      nad('shared', 'net-s', '10.40.2.0/24');
      nad('team-b', 'net-b', '10.40.3.0/24');
      nad('default', 'net-d', '10.40.4.0/24');
    });

    it("allows NADs of the pod's own namespace and of a globalNamespace", async () => {
      kube.api.setPod({ ...pod, annotations: { [ANN_NETWORKS]: 'net-a, shared/net-s' } });

      const { ifs, status } = await addAndDel(pod, conf, bed.pod, bed.containerId);

      expect(ifs.get('net1')?.ips).toEqual(['10.40.1.2']);
      expect(ifs.get('net2')?.ips).toEqual(['10.40.2.2']);
      expect(status.map((s) => s.name)).toEqual(['cluster', 'team-a/net-a', 'shared/net-s']);
      await bed.expectNothingLeft();
    });

    // globalNamespaces "shared" replaces the implicit "default".
    it.each(['team-b/net-b', 'default/net-d'])(
      'refuses %s, naming the namespace and the NAD, and leaves nothing behind',
      async (ref) => {
        kube.api.setPod({ ...pod, annotations: { [ANN_NETWORKS]: `net-a, ${ref}` } });

        const err = expectCniError(await bed.run('ADD', { conf, pod }), 7);

        expect(err.msg).toContain('"team-a"');
        expect(err.msg).toContain(ref);
        const asked = kube.api.requests.map((r) => r.path);
        expect(
          asked.some((p) => p.endsWith(`/namespaces/${ref.replace('/', '/network-attachment-definitions/')}`)),
          'the refused NAD was not even read',
        ).toBe(false);
        expect(kube.api.pod(pod.namespace, pod.name)!.metadata.annotations?.[ANN_STATUS]).toBeUndefined();
        await bed.expectNothingLeft();
      },
    );
  });

  describe('systemNamespaces', () => {
    it('are matched against the pod namespace: a pod named "kube-system" still gets defaultNetworks, a pod in kube-system does not', async () => {
      const conf = kube.conf(bed.conf({ defaultNetworks: ['dn'] }));
      nad('kube-system', 'dn', '10.41.0.0/24');
      const named = { namespace: 'default', name: 'kube-system' };
      const inSystem = { namespace: 'kube-system', name: 'web' };
      kube.api.setPod(named);
      kube.api.setPod(inSystem);
      const second = await bed.newPod();

      const a = await addAndDel(named, conf, bed.pod, bed.containerId);
      const b = await addAndDel(inSystem, conf, second, `${bed.containerId}-2`);

      expect([...a.ifs.keys()].sort()).toEqual(['eth0', 'net1']);
      expect(a.ifs.get('net1')?.ips).toEqual(['10.41.0.2']);
      expect(a.status.map((s) => s.name)).toEqual(['cluster', 'kube-system/dn']);
      expect([...b.ifs.keys()]).toEqual(['eth0']);
      expect(b.status.map((s) => s.name)).toEqual(['cluster']);
      await bed.expectNothingLeft();
    });
  });

  describe('v1.multus-cni.io/default-network', () => {
    it("replaces the cluster network: the pod's eth0 comes from that NAD in multusNamespace", async () => {
      const conf = kube.conf(bed.conf());
      kube.api.setNad(
        'kube-system',
        'altnet',
        JSON.stringify(bridgeConflist('altnet', 'cni9', '10.90.0.0/24', '10.90.0.1', bed.ipamDir)),
      );
      nad('default', 'mv', '10.42.0.0/24');
      kube.api.setPod({
        namespace: 'default',
        name: 'web',
        annotations: { [ANN_DEFAULT]: 'altnet', [ANN_NETWORKS]: 'mv' },
      });

      const result = expectOk(await bed.run('ADD', { conf }))!;

      expect(result.ips.map((ip: { address: string }) => ip.address)).toEqual(['10.90.0.2/24']);
      const ifs = await podInterfaces(bed.pod);
      expect(ifs.get('eth0')).toMatchObject({ kind: 'veth', ips: ['10.90.0.2'] });
      expect(ifs.get('net1')?.ips).toEqual(['10.42.0.2']);
      const routes = await bed.pod.routes();
      expect(routes.find((r) => r.dst === 'default')).toMatchObject({ gateway: '10.90.0.1', dev: 'eth0' });
      const nodeLinks = (await bed.node.links()).map((l) => l.ifname);
      expect(nodeLinks).toContain('cni9');
      expect(nodeLinks, 'the configured cluster network was not used').not.toContain('cni0');
      expect(bed.leases()).toEqual(['altnet/10.90.0.2', 'mv/10.42.0.2']);
      expect(statusOf({ namespace: 'default', name: 'web' }).map((s) => [s.name, s.interface, s.default])).toEqual([
        ['kube-system/altnet', 'eth0', true],
        ['default/mv', 'net1', false],
      ]);

      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });
  });
});
