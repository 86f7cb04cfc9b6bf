import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from '../../src/agent/metrics.ts';
import { registerPolicyMetrics } from '../../src/agent/policy-metrics.ts';
import type { Stats } from '../../src/policy/layout.ts';
import { PolicyMaps } from '../../src/policy/maps.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { echoReaches, startEchoServer, stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { isRoot } from '../bpf/env.ts';
import { disableDad, makePolicyTestbed, type PolicyTestbed, type TestPod } from './policy-testbed.ts';

/**
 * Datagrams larger than the MTU, sent by real sockets and fragmented by the sending kernel: the
 * policy programs see the fragments (tc runs before reassembly), and an allowed datagram only
 * comes back from the echo server when every fragment passed in both directions.
 */
const NET = 'default/net1';
const policy = (spec: string) => `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata: {name: big, namespace: test, annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
/**
 * The server's ingress allows UDP 7000 from app=client only; its egress allows UDP 7001 to
 * app=other only. Replies of allowed flows pass against both.
 */
const SERVER_POLICY = policy(`
podSelector: {matchLabels: {app: server}}
policyTypes: [Ingress, Egress]
ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{protocol: UDP, port: 7000}]}]
egress: [{to: [{podSelector: {matchLabels: {app: other}}}], ports: [{protocol: UDP, port: 7001}]}]`);

/** One UDP echo of `size` bytes from client to addr:port; an expected pass gets three tries (a lost datagram is no verdict). */
async function bigEcho(
  server: TestPod,
  client: TestPod,
  addr: string,
  port: number,
  size: number,
  expectPass: boolean,
): Promise<boolean> {
  const echo = await startEchoServer(server.ns, 'udp', addr, port, 20_000);
  try {
    for (let i = 0; i < (expectPass ? 3 : 1); i++) {
      if (await echoReaches(client.ns, 'udp', addr, port, { timeoutMs: 1_000, payload: 'x'.repeat(size) })) return true;
    }
    return false;
  } finally {
    echo.stop();
  }
}

describe.skipIf(!isRoot)('policy on fragmented datagrams, real traffic', () => {
  let tb: PolicyTestbed | undefined;
  afterEach(async () => {
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });

  const serverStats = () => tb!.status().find((s) => s.pod === 'test/server')!.counters;

  /** Every check of one network; addrs: the pods' addresses of one family. */
  async function exercise(
    pods: { server: TestPod; a: TestPod; b: TestPod },
    addrs: { server: string; a: string; b: string },
    sizes: number[],
    mtu: number,
  ) {
    const { server, a, b } = pods;
    for (const size of sizes) {
      const label = `${size} bytes to ${addrs.server}`;
      // Allowed into the ingress-isolated server; the reply leaves the egress-isolated server.
      expect(await bigEcho(server, a, addrs.server, 7000, size, true), `allowed: ${label}`).toBe(true);
      // Allowed out of the egress-isolated server; the reply comes into its isolated ingress.
      expect(await bigEcho(b, server, addrs.b, 7001, size, true), `allowed egress: ${label}`).toBe(true);
      // Denied: the wrong peer, the wrong port, the wrong egress destination.
      const before = serverStats();
      expect(await bigEcho(server, b, addrs.server, 7000, size, false), `denied peer: ${label}`).toBe(false);
      const after = serverStats();
      // Every fragment of the denied datagram was dropped on its first fragment's verdict.
      const fragments = Math.ceil((size + 8) / (mtu - 20));
      expect(delta(after, before, 'denyPolicy', 'ingress')).toBeGreaterThanOrEqual(BigInt(fragments));
      expect(delta(after, before, 'allowPolicy', 'ingress')).toBe(0n);
      expect(after.ingress.denyFragmentOrder).toBe(0n);
    }
    const size = sizes.at(-1)!;
    expect(await bigEcho(server, a, addrs.server, 7002, size, false), `denied port: ${size} bytes`).toBe(false);
    expect(await bigEcho(a, server, addrs.a, 7001, size, false), `denied egress: ${size} bytes`).toBe(false);
  }

  it('bridge plugin (host-side veth), MTU 1500: 3,000 and 9,000 bytes, IPv4 and IPv6', async () => {
    tb = await makePolicyTestbed();
    const pods = {
      server: await tb.pod('server', { app: 'server' }),
      a: await tb.pod('client-a', { app: 'client' }),
      b: await tb.pod('client-b', { app: 'other' }),
    };
    const ips: Record<string, string[]> = {};
    for (const [i, [k, p]] of Object.entries(pods).entries()) {
      await disableDad(p);
      const conf = {
        bridge: 'brfr0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `10.82.0.${i + 2}/24` }, { address: `fd82::${i + 2}/64` }] },
      };
      ips[k] = await tb.plugin(p, 'bridge', conf);
      tb.attach(p, NET, 'net1', ips[k]!);
    }
    tb.apply(SERVER_POLICY);
    for (const family of [0, 1]) {
      await exercise(
        pods,
        { server: ips.server![family]!, a: ips.a![family]!, b: ips.b![family]! },
        [3000, 9000],
        1500,
      );
    }
    const s = serverStats();
    expect(s.ingress.allowReply).toBeGreaterThan(0n);
    expect(s.egress.allowReply).toBeGreaterThan(0n);
    expect(s.ingress.denyFragmentOrder + s.egress.denyFragmentOrder).toBe(0n);
  });

  it('macvlan on a jumbo-MTU parent (programs in the pod), MTU 9000: 9,000 bytes, IPv4 and IPv6', async () => {
    tb = await makePolicyTestbed();
    await tb.host.ip(['link', 'add', 'mvj0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'mvj1', 'mtu', '9000']);
    await tb.host.ip(['link', 'set', 'mvj0', 'up']);
    await tb.host.ip(['link', 'set', 'mvj1', 'up']);
    const pods = {
      server: await tb.pod('server', { app: 'server' }),
      a: await tb.pod('client-a', { app: 'client' }),
      b: await tb.pod('client-b', { app: 'other' }),
    };
    const ips: Record<string, string[]> = {};
    for (const [i, [k, p]] of Object.entries(pods).entries()) {
      await disableDad(p);
      const conf = {
        master: 'mvj0',
        mode: 'bridge',
        mtu: 9000,
        ipam: { type: 'static', addresses: [{ address: `10.83.0.${i + 2}/24` }, { address: `fd83::${i + 2}/64` }] },
      };
      ips[k] = await tb.plugin(p, 'macvlan', conf);
      const [link] = (await p.ns.links()).filter((l) => l.ifname === 'net1');
      expect(link!.mtu).toBe(9000);
      tb.attach(p, NET, 'net1', ips[k]!);
    }
    tb.apply(SERVER_POLICY);
    for (const family of [0, 1]) {
      await exercise(pods, { server: ips.server![family]!, a: ips.a![family]!, b: ips.b![family]! }, [9000], 9000);
    }
    // Allowed datagrams arrived whole and their last fragments closed their entries. What stays:
    // denied datagrams whose sender stopped after its first fragment was dropped (an egress
    // hook in the pod makes the send fail), left to age out.
    const registry = new Registry();
    registerPolicyMetrics(registry, tb.opts);
    const text = registry.render();
    const maps = PolicyMaps.open(tb.opts.bpfRoot);
    const left = maps.frag!.entries();
    maps.close();
    expect(left.filter(([, e]) => e.allowed)).toEqual([]);
    expect(text).toContain(`braid_policy_map_entries{map="fragments"} ${left.length}\n`);
    expect(text).toMatch(/braid_policy_map_capacity\{map="fragments"\} 8192/);
    expect(text).toMatch(
      /braid_policy_verdict_reasons_total\{[^}]*pod="server"[^}]*direction="ingress",reason="denyFragmentOrder"\} 0/,
    );
  });
});

function delta(
  after: { ingress: Stats; egress: Stats },
  before: { ingress: Stats; egress: Stats },
  name: keyof Stats,
  dir: 'ingress' | 'egress',
): bigint {
  return after[dir][name] - before[dir][name];
}
