import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { withNetns } from '../../src/bpf/netns.ts';
import { queryTcx } from '../../src/bpf/tcx.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { bpfObjectDir, isRoot } from '../bpf/env.ts';
import { pluginBinary, removePluginBinary } from './veth-testbed.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod, podReaches } from './policy-testbed.ts';

const NET = 'default/net1';
const policy = (spec: string) => `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata: {name: p, namespace: test, annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
const staticIpam = (...addresses: string[]) => ({
  type: 'static',
  addresses: addresses.map((address) => ({ address })),
});

/**
 * server, client-a (allowed by the policy) and client-b (not): the server's ingress allows TCP
 * 5555 from app=client, its egress allows only client-b on UDP 6000.
 */
async function exercise(tb: PolicyTestbed, server: TestPod, a: TestPod, b: TestPod, sAddr: string, bAddr: string) {
  expect(await podReaches(server, b, sAddr, 5555)).toBe(true);
  tb.apply(
    policy(`
podSelector: {matchLabels: {app: server}}
policyTypes: [Ingress, Egress]
ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 5555}]}]
egress: [{to: [{podSelector: {matchLabels: {app: other}}}], ports: [{protocol: UDP, port: 6000}]}]`),
  );
  expect(await podReaches(server, a, sAddr, 5555)).toBe(true);
  expect(await podReaches(server, b, sAddr, 5555)).toBe(false);
  expect(await podReaches(b, server, bAddr, 6000, 'udp')).toBe(true);
  expect(await podReaches(b, server, bAddr, 6001, 'udp')).toBe(false);
  const s = tb.status().find((r) => r.pod === 'test/server')!;
  expect(s.isolated).toEqual({ ingress: true, egress: true });
  expect(s.counters.ingress.allowPolicy).toBeGreaterThan(0n);
  expect(s.counters.ingress.denyPolicy).toBeGreaterThan(0n);
  expect(s.counters.ingress.allowReply).toBeGreaterThan(0n);
  expect(s.counters.egress.denyPolicy).toBeGreaterThan(0n);
}

describe.skipIf(!isRoot)('policy on interfaces without a host peer and on braid-veth, real traffic', () => {
  let tb: PolicyTestbed | undefined;
  afterEach(async () => {
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });
  afterAll(() => removePluginBinary());

  const pods = async () => {
    tb = await makePolicyTestbed();
    return [
      await tb.pod('server', { app: 'server' }),
      await tb.pod('client-a', { app: 'client' }),
      await tb.pod('client-b', { app: 'other' }),
    ] as const;
  };

  it('macvlan (bridge mode): programs on the pod device', async () => {
    const [server, a, b] = await pods();
    await tb!.host.ip(['link', 'add', 'mvm0', 'type', 'veth', 'peer', 'name', 'mvm1']);
    await tb!.host.ip(['link', 'set', 'mvm0', 'up']);
    await tb!.host.ip(['link', 'set', 'mvm1', 'up']);
    const addrs: string[][] = [];
    for (const [i, p] of [server, a, b].entries()) {
      const ips = await tb!.plugin(p, 'macvlan', {
        master: 'mvm0',
        mode: 'bridge',
        ipam: staticIpam(`10.79.0.${i + 2}/24`),
      });
      const [att] = tb!.attach(p, NET, 'net1', ips);
      expect(att!.hook).toMatchObject({ place: 'pod-device', ifname: 'net1' });
      expect(withNetns(p.ns.path, () => queryTcx(att!.hook.ifindex, 'ingress'))).toHaveLength(1);
      addrs.push(ips);
    }
    await exercise(tb!, server, a, b, addrs[0]![0]!, addrs[2]![0]!);
  });

  it('host-device (a veth pair moved into two pods): programs on the pod device', async () => {
    const [server, , b] = await pods();
    // The two ends of one veth pair, each moved into a pod: neither has a peer in the host.
    await tb!.host.ip(['link', 'add', 'hds0', 'type', 'veth', 'peer', 'name', 'hdb0']);
    const sIps = await tb!.plugin(server, 'host-device', { device: 'hds0', ipam: staticIpam('10.80.0.2/24') });
    const bIps = await tb!.plugin(b, 'host-device', { device: 'hdb0', ipam: staticIpam('10.80.0.4/24') });
    for (const [p, ips] of [
      [server, sIps],
      [b, bIps],
    ] as const) {
      const [att] = tb!.attach(p, NET, 'net1', ips);
      expect(att!.hook.place).toBe('pod-device');
    }
    expect(await podReaches(server, b, sIps[0]!, 5555)).toBe(true);
    tb!.apply(
      policy(`
podSelector: {matchLabels: {app: server}}
ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]`),
    );
    expect(await podReaches(server, b, sIps[0]!, 5555)).toBe(false);
    expect(await podReaches(b, server, bIps[0]!, 5556)).toBe(true);
    const s = tb!.status().find((r) => r.pod === 'test/server')!;
    expect(s.counters.ingress.denyPolicy).toBeGreaterThan(0n);
    expect(s.counters.ingress.allowReply).toBeGreaterThan(0n);
  });

  it('braid-veth (slow path): programs on the host-side veth, first in the tcx chain', async () => {
    await braidVeth(false, 'auto');
  });

  it('braid-veth (fast path, bpf_redirect_peer): programs on the pod device', async () => {
    await braidVeth(true, 'pod');
  });

  async function braidVeth(fastPath: boolean, placement: 'auto' | 'pod') {
    const [server, a, b] = await pods();
    const bin = await pluginBinary();
    const conf = {
      bpfRoot: tb!.pins.path,
      stateDir: makeTempDir('braid-t-pveth'),
      fastPath,
      ipam: { type: 'host-local', dataDir: makeTempDir('braid-t-pvipam'), ranges: [[{ subnet: '10.81.0.0/24' }]] },
    };
    const addrs: string[][] = [];
    for (const p of [server, a, b]) {
      const ips = await tb!.plugin(p, 'braid-veth', conf, {
        bin,
        ifname: 'eth0',
        env: { BRAID_BPF_DIR: bpfObjectDir },
      });
      const [att] = tb!.attach(p, NET, 'eth0', ips, placement);
      if (placement === 'pod') {
        expect(att!.hook).toMatchObject({ place: 'pod-device', ifname: 'eth0' });
      } else {
        expect(att!.hook.place).toBe('host-veth');
        const chain = withNetns(tb!.host.path, () => queryTcx(att!.hook.ifindex, 'ingress'));
        expect(chain).toHaveLength(2); // mnp_out, then braid-veth's from_pod
      }
      addrs.push(ips);
    }
    await exercise(tb!, server, a, b, addrs[0]![0]!, addrs[2]![0]!);
  }
});
