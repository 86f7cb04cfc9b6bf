import { describe, expect, it } from 'vitest';
import {
  ANN_DEFAULT,
  ANN_NETWORKS,
  CRI_ANNOTATIONS,
  addressesOf,
  braidUnavailable,
  expectCniError,
  expectOk,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';

// What the pod and braid's conf decide, with real plugins: the default-network override,
// defaultNetworks and systemNamespaces, namespaceIsolation, network-status in the pod store, and
// annotations from the runtime's pod-annotations capability.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid per-pod network selection', () => {
  let bed: BraidBed;

  useBraidBed((b) => {
    bed = b;
  });

  describe('v1.multus-cni.io/default-network', () => {
    it('replaces the cluster network with a NAD of multusNamespace', async () => {
      const alt = { type: 'bridge', bridge: 'cni1', isGateway: true, ipam: bed.hostLocal('10.94.0.0/24') };
      bed.writeNad('alt-cluster', { cniVersion: '1.0.0', name: 'alt-cluster', ...alt }, { namespace: 'kube-system' });
      await bed.macvlanNad('lan', '10.89.0.0/24');
      bed.writePod({ [ANN_DEFAULT]: 'alt-cluster', [ANN_NETWORKS]: 'lan' });

      const result = expectOk(await bed.run('ADD'))!;

      expect(result.ips[0].address).toBe('10.94.0.2/24');
      expect(await addressesOf(bed.pod, 'eth0')).toEqual(['10.94.0.2/24']);
      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expect(bed.leases()).toEqual(['alt-cluster/10.94.0.2', 'lan/10.89.0.2']);
      const status = (await bed.networkStatus())!;
      expect(status.filter((s) => s.default).map((s) => s.name)).toEqual(['kube-system/alt-cluster']);

      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });
  });

  describe('defaultNetworks and systemNamespaces', () => {
    it('pods outside systemNamespaces get the default networks; a kube-system pod does not', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24', { namespace: 'kube-system' });
      const conf = bed.conf({ defaultNetworks: ['lan'] });
      bed.writePod({});
      const system = { namespace: 'kube-system', name: 'coredns' };
      bed.writePod({}, system);
      const systemNs = await bed.newPod();

      expectOk(await bed.run('ADD', { conf }));
      expectOk(await bed.run('ADD', { conf, containerId: 'ctr-system', netns: systemNs, pod: system }));

      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
      expect(await bed.linkNames(systemNs)).toEqual(['eth0', 'lo']);
      expect((await bed.networkStatus())!.map((s) => s.name)).toEqual(['cluster', 'kube-system/lan']);

      expectOk(await bed.run('DEL', { conf }));
      expectOk(await bed.run('DEL', { conf, containerId: 'ctr-system', netns: systemNs, pod: system }));
      await bed.expectNothingLeft();
    });

    it('annotation networks are numbered after the default networks', async () => {
      const master = await bed.nodeVeth();
      await bed.macvlanNad('lan', '10.89.0.0/24', { namespace: 'kube-system', master });
      await bed.macvlanNad('storage', '10.90.0.0/24', { master });
      bed.writePod({ [ANN_NETWORKS]: 'storage' });

      expectOk(await bed.run('ADD', { conf: bed.conf({ defaultNetworks: ['lan'] }) }));

      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expect(await addressesOf(bed.pod, 'net2')).toEqual(['10.90.0.2/24']);
    });
  });

  describe('namespaceIsolation', () => {
    it('refuses a NAD of another namespace, naming both, and leaves nothing', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24', { namespace: 'other' });
      bed.writePod({ [ANN_NETWORKS]: 'other/lan' });

      const err = expectCniError(await bed.run('ADD', { conf: bed.conf({ namespaceIsolation: true }) }), 7);

      expect(err.msg).toContain('"default"');
      expect(err.msg).toContain('other/lan');
      await bed.expectNothingLeft();
    });

    it("allows the pod's own namespace and the global namespaces", async () => {
      const master = await bed.nodeVeth();
      await bed.macvlanNad('lan', '10.89.0.0/24', { namespace: 'other', master });
      await bed.macvlanNad('shared', '10.90.0.0/24', { namespace: 'default', master });
      const pod = { namespace: 'other', name: 'web' };
      bed.writePod({ [ANN_NETWORKS]: 'lan,default/shared' }, pod);

      expectOk(await bed.run('ADD', { conf: bed.conf({ namespaceIsolation: true }), pod }));

      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1', 'net2']);
    });

    it("without isolation another namespace's NAD is fine", async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24', { namespace: 'other' });
      bed.writePod({ [ANN_NETWORKS]: 'other/lan' });
      expectOk(await bed.run('ADD'));
      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
    });
  });

  describe('network-status in the pod store', () => {
    it('one entry per pod interface, exactly one default, other annotations kept', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24');
      bed.writePod({ [ANN_NETWORKS]: 'lan@lan0,lan', 'example.com/owner': 'team-a' });

      expectOk(await bed.run('ADD'));

      const status = (await bed.networkStatus())!;
      expect(status.map((s) => [s.name, s.interface])).toEqual([
        ['cluster', 'eth0'],
        ['default/lan', 'lan0'],
        ['default/lan', 'net2'],
      ]);
      expect(status.filter((s) => s.default === true)).toHaveLength(1);
      expect(status[0]!.default).toBe(true);
      const links = new Map((await bed.pod.links()).map((l) => [l.ifname, l.address]));
      for (const s of status) {
        expect(s.mac).toBe(links.get(s.interface));
        expect(s.ips).toHaveLength(1);
      }
      expect((await bed.podAnnotations())!['example.com/owner']).toBe('team-a');
    });

    it('a pod without secondary networks gets a one-entry status', async () => {
      bed.writePod({});
      expectOk(await bed.run('ADD'));
      expect(await bed.networkStatus()).toEqual([
        expect.objectContaining({ name: 'cluster', interface: 'eth0', ips: ['10.88.0.2'], default: true }),
      ]);
    });
  });

  describe('annotations from the runtime (io.kubernetes.cri.pod-annotations)', () => {
    const criConf = (annotations: Record<string, string>) =>
      bed.conf({ capabilities: { [CRI_ANNOTATIONS]: true }, runtimeConfig: { [CRI_ANNOTATIONS]: annotations } });

    it('are used when the pod store has no manifest', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24');
      expectOk(await bed.run('ADD', { conf: criConf({ [ANN_NETWORKS]: 'lan' }) }));
      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expectOk(await bed.run('DEL', { conf: criConf({ [ANN_NETWORKS]: 'lan' }) }));
      await bed.expectNothingLeft();
    });

    it('win over the pod store', async () => {
      const master = await bed.nodeVeth();
      await bed.macvlanNad('lan', '10.89.0.0/24', { master });
      await bed.macvlanNad('storage', '10.90.0.0/24', { master });
      bed.writePod({ [ANN_NETWORKS]: 'storage' });

      expectOk(await bed.run('ADD', { conf: criConf({ [ANN_NETWORKS]: 'lan' }) }));

      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);
    });
  });
});
