import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withNetns } from '../../src/bpf/netns.ts';
import { queryTcx } from '../../src/bpf/tcx.ts';
import { collectPolicyGarbage } from '../../src/policy/release.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { isRoot } from '../bpf/env.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod, podReaches } from './policy-testbed.ts';

const NET = 'default/net1';
const bridgeConf = (v4: string, v6: string) => ({
  bridge: 'brpt0',
  isGateway: false,
  ipMasq: false,
  ipam: { type: 'static', addresses: [{ address: `${v4}/24` }, { address: `${v6}/64` }] },
});
const policy = (name: string, spec: string) => `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata:
  name: ${name}
  namespace: test
  annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;

/** True when a TCP or UDP echo from `client` to server:port comes back (request and reply passed). */

describe.skipIf(!isRoot)('policy on bridge plugin interfaces (host-side veth), real traffic', () => {
  let tb: PolicyTestbed | undefined;
  afterEach(async () => {
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });

  it('allows, denies, passes replies, counts, follows updates and cleans up on DEL', async () => {
    tb = await makePolicyTestbed();
    const server = await tb.pod('server', { app: 'server' });
    const a = await tb.pod('client-a', { app: 'client' });
    const b = await tb.pod('client-b', { app: 'other' });
    const addr = new Map<TestPod, string[]>();
    for (const [i, p] of [server, a, b].entries()) {
      const ips = await tb.plugin(p, 'bridge', bridgeConf(`10.78.0.${i + 2}`, `fd78::${i + 2}`));
      addr.set(p, ips);
      const [att] = tb.attach(p, NET, 'net1', ips);
      expect(att!.hook.place).toBe('host-veth');
      const tcx = withNetns(tb.host.path, () => ({
        in: queryTcx(att!.hook.ifindex, 'ingress'),
        out: queryTcx(att!.hook.ifindex, 'egress'),
      }));
      expect(tcx.in).toHaveLength(1);
      expect(tcx.out).toHaveLength(1);
    }
    const [s4, s6] = addr.get(server)!;
    expect(await podReaches(server, b, s4!, 5555)).toBe(true);

    tb.apply(
      policy(
        'allow-clients',
        `
podSelector: {matchLabels: {app: server}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
  ports: [{protocol: TCP, port: 5555}]`,
      ),
    );
    expect(await podReaches(server, a, s4!, 5555)).toBe(true);
    expect(await podReaches(server, a, s6!, 5555)).toBe(true);
    expect(await podReaches(server, b, s4!, 5555)).toBe(false);
    expect(await podReaches(server, b, s6!, 5555)).toBe(false);
    expect(await podReaches(server, a, s4!, 5556, 'udp')).toBe(false);
    // The server's own connections still get their answers although its ingress is isolated.
    expect(await podReaches(b, server, addr.get(b)![0]!, 5557)).toBe(true);

    const status = tb.status().find((s) => s.pod === 'test/server')!;
    expect(status).toMatchObject({
      policies: ['test/allow-clients'],
      isolated: { ingress: true, egress: false },
      inSync: true,
    });
    expect(status.counters.ingress.allowPolicy).toBeGreaterThanOrEqual(2n);
    expect(status.counters.ingress.denyPolicy).toBeGreaterThan(0n);
    expect(status.counters.ingress.allowReply).toBeGreaterThan(0n);
    expect(status.counters.egress.allowUnisolated).toBeGreaterThan(0n);

    tb.deletePolicy('test', 'allow-clients');
    expect(await podReaches(server, b, s4!, 5555)).toBe(true);

    const links = join(tb.pins.path, 'mnp', 'links');
    // One slot per interface, holding its in and out links.
    expect(readdirSync(links)).toHaveLength(3);
    for (const slot of readdirSync(links)) expect(readdirSync(join(links, slot)).sort()).toEqual(['in', 'out']);
    // client-a's namespace vanishes without DEL: GC finds its dead links.
    await a.ns.destroy();
    let collected = withNetns(tb.host.path, () => collectPolicyGarbage(tb!.opts));
    // The kernel tears a namespace down in the background: its veths go a moment later.
    for (let i = 0; i < 40 && collected.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      collected = withNetns(tb.host.path, () => collectPolicyGarbage(tb!.opts));
    }
    expect(collected.map((r) => r.pod.name)).toEqual(['client-a']);
    a.attached = [];
    await b.ns.destroy(); // DEL after the namespace is gone
    tb.detach(b);
    tb.detach(server);
    expect(readdirSync(links)).toEqual([]);
    expect(tb.status()).toEqual([]);
    expect(existsSync(join(tb.opts.cacheDir, 'policy', 'ifaces'))).toBe(true);
    expect(readdirSync(join(tb.opts.cacheDir, 'policy', 'ifaces'))).toEqual([]);
  });
});
