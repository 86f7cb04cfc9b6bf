import { describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  addressesOf,
  braidUnavailable,
  bridgeClusterConflist,
  expectOk,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { IpRoute } from '../helpers/netns.ts';

// One pod, several real plugins from /usr/lib/cni: the bridge cluster network, macvlan NADs, a
// host-device NAD, static/host-local/tuning reached through runtimeConfig, and default-route.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid multiplexing real plugins', () => {
  let bed: BraidBed;

  useBraidBed((b) => {
    bed = b;
  });

  describe('bridge + two macvlan + host-device, comma form', () => {
    it('creates eth0, net1, a requested name and net3 with their addresses; DEL gives the device back', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24');
      await bed.macvlanNad('storage', '10.90.0.0/24');
      const device = await bed.nodeVeth();
      bed.writeNad('dev', {
        cniVersion: '1.0.0',
        name: 'dev',
        type: 'host-device',
        device,
        ipam: bed.hostLocal('10.91.0.0/24'),
      });
      bed.writePod({ [ANN_NETWORKS]: 'lan, default/storage@stor0, dev' });

      const result = expectOk(await bed.run('ADD'))!;

      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1', 'net3', 'stor0']);
      expect(await addressesOf(bed.pod, 'eth0')).toEqual(['10.88.0.2/24']);
      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expect(await addressesOf(bed.pod, 'stor0')).toEqual(['10.90.0.2/24']);
      expect(await addressesOf(bed.pod, 'net3')).toEqual(['10.91.0.2/24']);
      expect(await bed.linkNames(bed.node)).not.toContain(device);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'dev/10.91.0.2', 'lan/10.89.0.2', 'storage/10.90.0.2']);
      // The runtime gets the cluster network's result only.
      expect(result.ips).toEqual([{ address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 2 }]);

      const status = (await bed.networkStatus())!;
      expect(status.map((s) => [s.name, s.interface, s.ips, s.default])).toEqual([
        ['cluster', 'eth0', ['10.88.0.2'], true],
        ['default/lan', 'net1', ['10.89.0.2'], false],
        ['default/storage', 'stor0', ['10.90.0.2'], false],
        ['default/dev', 'net3', ['10.91.0.2'], false],
      ]);
      const macs = new Map((await bed.pod.links()).map((l) => [l.ifname, l.address]));
      for (const s of status) expect(s.mac).toBe(macs.get(s.interface));
      expect((await bed.podAnnotations())![ANN_NETWORKS]).toBe('lan, default/storage@stor0, dev');

      expectOk(await bed.run('DEL'));
      expect(await bed.linkNames(bed.node)).toContain(device);
      await bed.expectNothingLeft();
    });
  });

  describe('ips and mac requests through runtimeConfig, JSON form', () => {
    it('static and host-local take the requested address, tuning sets the requested MAC', async () => {
      const master = await bed.nodeVeth();
      bed.writeNad('fixed', {
        cniVersion: '1.0.0',
        name: 'fixed',
        plugins: [
          { type: 'macvlan', master, mode: 'bridge', capabilities: { ips: true }, ipam: { type: 'static' } },
          { type: 'tuning', capabilities: { mac: true } },
        ],
      });
      bed.writeNad('pool', {
        cniVersion: '1.0.0',
        name: 'pool',
        type: 'macvlan',
        master,
        mode: 'bridge',
        capabilities: { ips: true },
        ipam: bed.hostLocal('10.93.0.0/24'),
      });
      const annotation = [
        { name: 'fixed', interface: 'fix0', ips: ['10.92.0.7/24'], mac: '02:11:22:33:44:55' },
        { name: 'pool', ips: ['10.93.0.50/24'] },
      ];
      bed.writePod({ [ANN_NETWORKS]: JSON.stringify(annotation) });

      expectOk(await bed.run('ADD'));

      const links = new Map((await bed.pod.links()).map((l) => [l.ifname, l]));
      expect(links.get('fix0')?.address).toBe('02:11:22:33:44:55');
      expect(await addressesOf(bed.pod, 'fix0')).toEqual(['10.92.0.7/24']);
      expect(await addressesOf(bed.pod, 'net2')).toEqual(['10.93.0.50/24']);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'pool/10.93.0.50']);
      const status = (await bed.networkStatus())!;
      expect(status.find((s) => s.interface === 'fix0')).toMatchObject({
        ips: ['10.92.0.7'],
        mac: '02:11:22:33:44:55',
      });

      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });
  });

  describe('default-route', () => {
    /** Dual-stack cluster network: default routes through 10.88.0.1 and fd88::1 on eth0. */
    function dualStackCluster(): Record<string, unknown> {
      const file = bed.writeConfFile(
        bridgeClusterConflist({
          ...bed.hostLocal('10.88.0.0/24'),
          ranges: [[{ subnet: '10.88.0.0/24', gateway: '10.88.0.1' }], [{ subnet: 'fd88::/64', gateway: 'fd88::1' }]],
          routes: [
            { dst: '0.0.0.0/0', gw: '10.88.0.1' },
            { dst: '::/0', gw: 'fd88::1' },
          ],
        }),
        '10-dual.conflist',
      );
      return bed.conf({ clusterNetwork: file });
    }

    async function lanDualStack(): Promise<void> {
      await bed.macvlanNad('lan', '10.89.0.0/24', {
        ipam: {
          ranges: [[{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }], [{ subnet: 'fd89::/64', gateway: 'fd89::1' }]],
        },
      });
    }

    const defaults = (routes: IpRoute[]) =>
      routes.filter((r) => r.dst === 'default').map((r) => `${r.gateway} ${r.dev}`);
    const isDefaultDst = (r: { dst: string }) => r.dst === '0.0.0.0/0' || r.dst === '::/0';

    it('one default route per family, through the requested gateways; the result returned has none', async () => {
      const conf = dualStackCluster();
      await lanDualStack();
      bed.writePod({ [ANN_NETWORKS]: JSON.stringify([{ name: 'lan', 'default-route': ['10.89.0.1', 'fd89::1'] }]) });

      const result = expectOk(await bed.run('ADD', { conf }))!;

      expect(defaults(await bed.pod.routes(4))).toEqual(['10.89.0.1 net1']);
      expect(defaults(await bed.pod.routes(6))).toEqual(['fd89::1 net1']);
      expect((result.routes ?? []).filter(isDefaultDst)).toEqual([]);
      const lan = (await bed.networkStatus())!.find((s) => s.name === 'default/lan')!;
      expect(lan['default-route']).toEqual(['10.89.0.1', 'fd89::1']);

      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });

    it('a request for IPv4 only leaves the cluster network the IPv6 default route', async () => {
      const conf = dualStackCluster();
      await lanDualStack();
      bed.writePod({ [ANN_NETWORKS]: JSON.stringify([{ name: 'lan', 'default-route': ['10.89.0.1'] }]) });

      const result = expectOk(await bed.run('ADD', { conf }))!;

      expect(defaults(await bed.pod.routes(4))).toEqual(['10.89.0.1 net1']);
      expect(defaults(await bed.pod.routes(6))).toEqual(['fd88::1 eth0']);
      expect((result.routes ?? []).filter(isDefaultDst)).toEqual([{ dst: '::/0', gw: 'fd88::1' }]);
    });
  });
});
