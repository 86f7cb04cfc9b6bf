import { afterEach, describe, expect, it } from 'vitest';
import { eui64LinkLocal } from '../../src/policy/link-local.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { echoReaches, startEchoServer, stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { isRoot } from '../bpf/env.ts';
import { disableDad, makePolicyTestbed, type PolicyTestbed, type TestPod } from './policy-testbed.ts';

/**
 * IPv6 link-local traffic between pods on one macvlan link: a pod's fe80:: address (the one its MAC
 * gives) counts as that pod, so selector rules allow it from selected pods and isolation keeps
 * everyone else out, as for its network-status addresses.
 */
const policy = (spec: string) => `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata: {name: ll, namespace: test, annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;

async function reaches(
  server: TestPod,
  client: TestPod,
  addr: string,
  port: number,
  expectPass: boolean,
): Promise<boolean> {
  const echo = await startEchoServer(server.ns, 'tcp', addr, port, 20_000);
  try {
    for (let i = 0; i < (expectPass ? 3 : 1); i++) {
      if (await echoReaches(client.ns, 'tcp', addr, port, { timeoutMs: 1_000 })) return true;
    }
    return false;
  } finally {
    echo.stop();
  }
}

describe.skipIf(!isRoot)('policy on IPv6 link-local traffic, real traffic', () => {
  let tb: PolicyTestbed | undefined;
  afterEach(async () => {
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });

  it("macvlan: a selected pod's link-local traffic passes, another pod's is denied, replies pass", async () => {
    tb = await makePolicyTestbed();
    await tb.host.ip(['link', 'add', 'mvl0', 'type', 'veth', 'peer', 'name', 'mvl1']);
    await tb.host.ip(['link', 'set', 'mvl0', 'up']);
    await tb.host.ip(['link', 'set', 'mvl1', 'up']);
    const pods = [
      await tb.pod('server', { app: 'server' }),
      await tb.pod('client-a', { app: 'client' }),
      await tb.pod('client-b', { app: 'other' }),
    ] as const;
    const linkLocal: string[] = [];
    for (const [i, p] of pods.entries()) {
      await disableDad(p);
      const ips = await tb.plugin(p, 'macvlan', {
        master: 'mvl0',
        mode: 'bridge',
        ipam: { type: 'static', addresses: [{ address: `fd85::${i + 2}/64` }] },
      });
      const link = (await p.ns.links()).find((l) => l.ifname === 'net1')!;
      // What braid's ADD records: the MAC of the plugin's result.
      tb.attach(p, 'default/net1', 'net1', ips, undefined, link.address);
      const ll = eui64LinkLocal(link.address!)!;
      const addrs = await p.ns.addrs();
      expect(addrs.find((a) => a.ifname === 'net1')!.addr_info.map((a) => a.local)).toContain(ll);
      linkLocal.push(`${ll}%net1`);
    }
    const [server, a, b] = pods;
    const [sLL, , bLL] = linkLocal;
    expect(await reaches(server, b, sLL!, 5555, true)).toBe(true);

    tb.apply(
      policy(`
podSelector: {matchLabels: {app: server}}
ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 5555}]}]`),
    );
    expect(await reaches(server, a, sLL!, 5555, true)).toBe(true);
    expect(await reaches(server, b, sLL!, 5555, false)).toBe(false);
    expect(await reaches(server, a, sLL!, 5556, false)).toBe(false);
    // The server's own link-local connection gets its answer into its isolated ingress.
    expect(await reaches(b, server, bLL!, 5557, true)).toBe(true);
    const s = tb.status().find((r) => r.pod === 'test/server')!;
    expect(s.counters.ingress.allowPolicy).toBeGreaterThan(0n);
    expect(s.counters.ingress.denyPolicy).toBeGreaterThan(0n);
    expect(s.counters.ingress.allowReply).toBeGreaterThan(0n);
  });
});
