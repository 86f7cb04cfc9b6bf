import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot } from '../bpf/env.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { startEchoServer, echoReaches, stopEchoServers, tcpEcho, udpEcho } from '../helpers/traffic.ts';
import { HOST_ADDR, NETWORK, createPod, makeTestbed, removePluginBinary, type Testbed } from './veth-testbed.ts';

const bare = (cidr: string) => cidr.split('/')[0]!;

interface Added {
  ns: Netns;
  id: string;
  result: Record<string, any>;
  v4: string;
  v6: string;
}

describe.skipIf(!isRoot)('braid-veth plugin: ADD, traffic, DEL', () => {
  let tb: Testbed;

  beforeEach(async () => {
    tb = await makeTestbed();
  });
  afterEach(async () => {
    stopEchoServers();
    await destroyAllNetns();
    tb?.cleanup();
    cleanupTemps();
  });
  afterAll(() => removePluginBinary());

  async function addPod(id: string): Promise<Added> {
    const ns = await createPod();
    const r = await tb.run('ADD', { pod: ns, containerId: id });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = r.json!;
    const ips = (result.ips as { address: string }[]).map((i) => i.address);
    return {
      ns,
      id,
      result,
      v4: bare(ips.find((a) => !a.includes(':'))!),
      v6: bare(ips.find((a) => a.includes(':'))!),
    };
  }

  it('sets up the pod: /32 and /128, link-local gateway with a permanent neighbour, default routes', async () => {
    const a = await addPod('pod-a');
    const hostVeth = tb.hostVeth('pod-a');
    expect(hostVeth).toHaveLength(15);
    const hostLink = tb.hostLink(hostVeth)!;
    expect(a.result.cniVersion).toBe('1.1.0');
    expect(a.result.interfaces).toEqual([
      { name: hostVeth, mac: hostLink.mac },
      { name: 'eth0', mac: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/), sandbox: a.ns.path, mtu: 1500 },
    ]);
    expect(a.result.ips).toEqual([
      { address: `${a.v4}/32`, gateway: '169.254.1.1', interface: 1 },
      { address: `${a.v6}/128`, gateway: 'fe80::1', interface: 1 },
    ]);

    const [eth0] = (await a.ns.addrs()).filter((l) => l.ifname === 'eth0');
    expect(eth0!.mtu).toBe(hostLink.mtu);
    expect(eth0!.address).toBe(a.result.interfaces[1].mac);
    const global = eth0!.addr_info.filter((x) => x.scope === 'global').map((x) => `${x.local}/${x.prefixlen}`);
    expect(global.sort()).toEqual([`${a.v4}/32`, `${a.v6}/128`].sort());
    expect((await a.ns.routes(4)).map((r) => `${r.dst} ${r.gateway ?? ''}`.trim()).sort()).toEqual([
      '169.254.1.1',
      'default 169.254.1.1',
    ]);
    expect((await a.ns.routes(6)).some((r) => r.dst === 'default' && r.gateway === 'fe80::1')).toBe(true);
    const neigh = await a.ns.ipJson<{ dst: string; lladdr: string; state: string[] }[]>([
      'neigh',
      'show',
      'dev',
      'eth0',
    ]);
    for (const gw of ['169.254.1.1', 'fe80::1']) {
      expect(neigh.find((n) => n.dst === gw)).toMatchObject({ lladdr: hostLink.mac, state: ['PERMANENT'] });
    }

    // Host side: routes to the pod, forwarding and rp_filter, both programs attached, map entries.
    const routes4 = await tb.host.routes(4);
    expect(routes4).toContainEqual(expect.objectContaining({ dst: a.v4, dev: hostVeth, scope: 'link' }));
    expect((await tb.host.routes(6)).some((r) => r.dst === a.v6 && r.dev === hostVeth)).toBe(true);
    const sysctl = async (k: string) => (await tb.host.nsenter(['cat', `/proc/sys/${k}`])).stdout.trim();
    expect(await sysctl('net/ipv4/ip_forward')).toBe('1');
    expect(await sysctl('net/ipv6/conf/all/forwarding')).toBe('1');
    expect(await sysctl(`net/ipv4/conf/${hostVeth}/rp_filter`)).toBe('0');
    const hooks = tb.tcx(hostLink.index);
    expect(hooks.ingress).toHaveLength(1);
    expect(hooks.egress).toHaveLength(1);
    const maps = tb.maps();
    try {
      const entries = maps.endpoints.entries().map(([k, v]) => [k.address, v.ifindex, v.podMac, v.hostMac]);
      expect(entries.sort()).toEqual(
        [
          [a.v4, hostLink.index, a.result.interfaces[1].mac, hostLink.mac],
          [a.v6, hostLink.index, a.result.interfaces[1].mac, hostLink.mac],
        ].sort(),
      );
    } finally {
      maps.close();
    }
  });

  it('carries TCP and UDP between two pods over IPv4 and IPv6 through the BPF redirect, and pods reach the host', async () => {
    const a = await addPod('pod-a');
    const b = await addPod('pod-b');
    for (const [server, client, addr] of [
      [b, a, b.v4],
      [a, b, a.v4],
      [b, a, b.v6],
    ] as const) {
      expect(await tcpEcho(server.ns, client.ns, addr), `tcp ${client.id} -> ${addr}`).toBe(true);
      expect(await udpEcho(server.ns, client.ns, addr), `udp ${client.id} -> ${addr}`).toBe(true);
    }
    expect(await tcpEcho(tb.host, a.ns, HOST_ADDR.v4)).toBe(true);
    expect(await udpEcho(tb.host, b.ns, HOST_ADDR.v6)).toBe(true);

    const maps = tb.maps();
    try {
      const sa = maps.statsOf(tb.hostLink(tb.hostVeth('pod-a'))!.index)!;
      const sb = maps.statsOf(tb.hostLink(tb.hostVeth('pod-b'))!.index)!;
      // Pod-to-pod packets were handed over by bpf_redirect_peer; pod-to-host ones were not.
      expect(sa.redirectPackets).toBeGreaterThan(0n);
      expect(sb.redirectPackets).toBeGreaterThan(0n);
      expect(sa.txPackets).toBeGreaterThan(sa.redirectPackets);
      expect(sa.rxPackets).toBeGreaterThan(0n);
    } finally {
      maps.close();
    }
  });

  it('DEL of one pod leaves the other working and nothing of the deleted one behind', async () => {
    const a = await addPod('pod-a');
    const b = await addPod('pod-b');
    const hostVethA = tb.hostVeth('pod-a');
    const ifindexA = tb.hostLink(hostVethA)!.index;
    const server = await startEchoServer(tb.host, 'tcp', HOST_ADDR.v4);

    const del = await tb.run('DEL', { pod: a.ns, containerId: 'pod-a' });
    expect(del.code, del.stdout).toBe(0);
    expect(del.stdout).toBe('');

    expect(await echoReaches(b.ns, 'tcp', HOST_ADDR.v4, server.port)).toBe(true);
    expect(tb.hostLink(hostVethA)).toBeUndefined();
    expect((await a.ns.links()).map((l) => l.ifname)).toEqual(['lo']);
    const hostRoutes = [...(await tb.host.routes(4)), ...(await tb.host.routes(6))].map((r) => r.dst);
    expect(hostRoutes).not.toContain(a.v4);
    expect(hostRoutes).not.toContain(a.v6);
    expect(hostRoutes).toContain(b.v4);
    const neigh = await tb.host.ipJson<{ dst: string }[]>(['neigh', 'show']);
    expect(neigh.map((n) => n.dst)).not.toContain(a.v4);
    const links = join(tb.pins.path, 'veth/links');
    expect(readdirSync(links).filter((f) => f.startsWith(hostVethA))).toEqual([]);
    expect(readdirSync(links)).toHaveLength(2);
    const maps = tb.maps();
    try {
      const addrs = maps.endpoints.keys().map((k) => k.address);
      expect(addrs).not.toContain(a.v4);
      expect(addrs).not.toContain(a.v6);
      expect(addrs).toContain(b.v4);
      expect(maps.statsOf(ifindexA)).toBeUndefined();
    } finally {
      maps.close();
    }
    const ipFiles = readdirSync(join(tb.ipamDir, NETWORK));
    expect(ipFiles).not.toContain(a.v4);
    expect(ipFiles).toContain(b.v4);
    expect(existsSync(join(tb.stateDir, 'endpoints', `${hostVethA}.json`))).toBe(false);

    const again = await tb.run('DEL', { pod: a.ns, containerId: 'pod-a' });
    expect(again.code, again.stdout).toBe(0);
  });
});
