import { describe, expect, it } from 'vitest';
import type { CniResult } from '../../../src/cni/result.ts';
import {
  assertNetworkStatus,
  networkStatusEntries,
  networkStatusProblems,
  parseNetworkStatus,
  serializeNetworkStatus,
} from '../../../src/k8s/network-status.ts';

const bridgeResult: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01' },
    { name: 'veth1234', mac: '0a:00:00:00:00:02' },
    { name: 'eth0', mac: '0a:58:0a:f4:00:05', mtu: 1450, sandbox: '/var/run/netns/pod' },
  ],
  ips: [
    { address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 2 },
    { address: 'fd00:10:244::5/64', gateway: 'fd00:10:244::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }, { dst: '10.96.0.0/12' }, { dst: '::/0', gw: 'fd00:10:244::1' }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'] },
};

describe('networkStatusEntries', () => {
  it('builds the entry of the pod-side interface like Multus', () => {
    const entries = networkStatusEntries('kube-system/flannel', 'eth0', bridgeResult, { isDefault: true });
    expect(entries).toEqual([
      {
        name: 'kube-system/flannel',
        interface: 'eth0',
        ips: ['10.244.0.5', 'fd00:10:244::5'],
        mac: '0a:58:0a:f4:00:05',
        mtu: 1450,
        default: true,
        dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        gateway: ['10.244.0.1', 'fd00:10:244::1'],
      },
    ]);
    expect(Object.keys(entries[0]!)).toEqual(['name', 'interface', 'ips', 'mac', 'mtu', 'default', 'dns', 'gateway']);
  });

  it("makes one entry per sandbox interface, default only on the attachment's ifname", () => {
    const result: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'net1', mac: '02:00:00:00:00:01', sandbox: '/ns' },
        { name: 'host0' },
        { name: 'net1-b', mac: '02:00:00:00:00:02', sandbox: '/ns' },
      ],
      ips: [
        { address: '192.168.1.5/24', interface: 2 },
        { address: '192.168.0.5/24', interface: 0 },
      ],
    };
    const entries = networkStatusEntries('ns/multi', 'net1', result, {
      isDefault: true,
      defaultRoute: ['192.168.0.1'],
    });
    expect(entries.map((e) => [e.interface, e.ips, e.default])).toEqual([
      ['net1', ['192.168.0.5'], true],
      ['net1-b', ['192.168.1.5'], false],
    ]);
    expect(entries[0]?.['default-route']).toEqual(['192.168.0.1']);
    expect(entries[1]?.['default-route']).toBeUndefined();
  });

  it("gives unindexed addresses to the attachment's interface", () => {
    const result: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net2', sandbox: '/ns' }],
      ips: [{ address: '10.1.1.9/24' }],
    };
    expect(networkStatusEntries('ns/a', 'net2', result, { isDefault: false })[0]?.ips).toEqual(['10.1.1.9']);
  });

  it('writes a minimal entry without a result', () => {
    expect(networkStatusEntries('ns/a', 'net1', undefined, { isDefault: false })).toEqual([
      { name: 'ns/a', interface: 'net1', default: false },
    ]);
  });

  it('keeps the addresses of a result without interfaces (an IPAM-style result)', () => {
    const result: CniResult = { cniVersion: '1.0.0', ips: [{ address: '10.2.0.4/16', gateway: '10.2.0.1' }] };
    expect(networkStatusEntries('ns/a', 'net1', result, { isDefault: false })).toEqual([
      { name: 'ns/a', interface: 'net1', ips: ['10.2.0.4'], default: false, dns: {} },
    ]);
  });

  it("counts an interface named like the attachment as the pod's when no interface has a sandbox", () => {
    const result: CniResult = { cniVersion: '0.4.0', interfaces: [{ name: 'net1', mac: '02:00:00:00:00:09' }] };
    expect(networkStatusEntries('ns/a', 'net1', result, { isDefault: false, netns: '/ns' })[0]?.mac).toBe(
      '02:00:00:00:00:09',
    );
  });

  it("puts device-info on the attachment's entry", () => {
    const deviceInfo = { type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:04:00.5' } };
    const entries = networkStatusEntries('ns/sriov', 'net1', undefined, { isDefault: false, deviceInfo });
    expect(entries[0]?.['device-info']).toEqual(deviceInfo);
  });
});

describe('network-status validation and serialization', () => {
  const cluster = networkStatusEntries('kube-system/flannel', 'eth0', bridgeResult, { isDefault: true });
  const secondary = networkStatusEntries('ns/a', 'net1', undefined, { isDefault: false });

  it('accepts exactly one default entry', () => {
    expect(networkStatusProblems([...cluster, ...secondary])).toEqual([]);
    expect(() => assertNetworkStatus([...cluster, ...secondary])).not.toThrow();
  });

  it('rejects none or two default entries', () => {
    expect(networkStatusProblems(secondary)[0]).toContain('found 0');
    expect(() => assertNetworkStatus([...cluster, ...cluster])).toThrow(/found 2/);
  });

  it('serializes with four-space indentation and reads it back', () => {
    const text = serializeNetworkStatus([...cluster, ...secondary]);
    expect(text).toContain('\n    {\n        "name": "kube-system/flannel"');
    expect(parseNetworkStatus(text)).toEqual([...cluster, ...secondary]);
    expect(() => parseNetworkStatus('{}')).toThrow(/not a JSON list/);
  });
});
