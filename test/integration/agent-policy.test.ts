import { afterEach, describe, expect, it } from 'vitest';
import { ClusterCache } from '../../src/agent/cluster-cache.ts';
import { Registry } from '../../src/agent/metrics.ts';
import { registerPolicyMetrics } from '../../src/agent/policy-metrics.ts';
import { nodeReconciler, PolicySync, type PolicyReconciler } from '../../src/agent/policy-sync.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import type { KubeAccess } from '../../src/k8s/kubeconfig.ts';
import { KubeClient } from '../../src/k8s/rest-client.ts';
import { isRoot } from '../bpf/env.ts';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { stopEchoServers } from '../helpers/traffic.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod, podReaches } from './policy-testbed.ts';

/**
 * The agent keeps the policy maps in step with the cluster: MultiNetworkPolicies and pod labels
 * come from the API stand-in through the agent's watches, and real traffic between pods on
 * bridge interfaces follows every change, without anyone running `braid policy apply`.
 */
const NET = 'default/net1';
let tb: PolicyTestbed | undefined;
let api: FakeWatchApiServer | undefined;
let cache: ClusterCache | undefined;
let sync: PolicySync | undefined;

afterEach(async () => {
  sync?.stop();
  await cache?.stop();
  await api?.close();
  stopEchoServers();
  await tb?.cleanup();
  [tb, api, cache, sync] = [undefined, undefined, undefined, undefined];
  await destroyAllNetns();
  cleanupTemps();
});

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

describe.skipIf(!isRoot)('agent policy sync, real traffic', () => {
  it('applies policies and label changes from the API and lifts a deleted policy', async () => {
    tb = await makePolicyTestbed();
    api = await FakeWatchApiServer.startWatchable();
    api.putNamespace('test');
    const pods: Record<string, TestPod> = {};
    for (const [i, [name, app]] of [
      ['server', 'server'],
      ['client-a', 'client'],
      ['client-b', 'other'],
    ].entries()) {
      const pod = (pods[name!] = await tb.pod(name!, { app: app! }));
      const ips = await tb.plugin(pod, 'bridge', {
        bridge: 'brag0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `10.79.0.${i + 2}/24` }] },
      });
      tb.attach(pod, NET, 'net1', ips);
      api.putPod({
        namespace: 'test',
        name: name!,
        nodeName: 'node-a',
        labels: { app: app! },
        annotations: {
          'k8s.v1.cni.cncf.io/network-status': JSON.stringify([{ name: NET, interface: 'net1', ips, default: false }]),
        },
      });
    }
    const { server, 'client-a': a, 'client-b': b } = pods as Record<string, TestPod>;
    const serverIp = '10.79.0.2';
    expect(await podReaches(server!, b!, serverIp, 5555)).toBe(true);

    const access: KubeAccess = {
      server: api.url,
      source: 'test',
      auth: { kind: 'none' },
      insecureSkipTlsVerify: false,
    };
    const host = tb.host.path;
    const inner = nodeReconciler(tb.opts);
    // braid-agent runs in the host network namespace; the test bed's "host" is a namespace of its own.
    const reconciler: PolicyReconciler = {
      reconcile: (inputsFor) => withNetns(host, () => inner.reconcile(inputsFor)),
    };
    const logs: string[] = [];
    cache = new ClusterCache(new KubeClient(access, { retries: 0 }), access, {
      nodeName: 'node-a',
      policy: true,
      log: (l) => logs.push(l),
      onPolicyInputChange: (r) => sync?.schedule(r),
      reflector: { minBackoffMs: 20, maxBackoffMs: 200 },
    });
    const registry = new Registry();
    registerPolicyMetrics(registry, tb.opts);
    sync = new PolicySync(reconciler, cache, registry, { debounceMs: 20, periodMs: 60_000, log: (l) => logs.push(l) });
    cache.start();
    await cache.whenSynced();
    sync.start();

    api.putPolicy(
      'test',
      'allow-clients',
      {
        podSelector: { matchLabels: { app: 'server' } },
        ingress: [
          { from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'TCP', port: 5555 }] },
        ],
      },
      { 'k8s.v1.cni.cncf.io/policy-for': NET },
    );
    await eventually('client-b is denied', async () => !(await podReaches(server!, b!, serverIp, 5555)));
    expect(await podReaches(server!, a!, serverIp, 5555)).toBe(true);
    expect(sync.last).toMatchObject({ interfaces: 3, errors: [] });
    // The verdicts, per pod interface, as Prometheus sees them.
    const text = registry.render();
    const denied =
      /braid_policy_packets_total\{namespace="test",pod="server",interface="net1",network="default\/net1",direction="ingress",verdict="denied"\} (\d+)/.exec(
        text,
      );
    expect(Number(denied?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/braid_policy_verdict_reasons_total\{[^}]*pod="server"[^}]*reason="denyPolicy"\} [1-9]/);
    expect(text).toMatch(/braid_policy_map_entries\{map="iface"\} 3/);
    expect(text).toMatch(/braid_policy_map_capacity\{map="conntrack"\} \d+/);

    // client-b becomes a client in the cluster: its address joins the allowed peers.
    api.putPod({
      namespace: 'test',
      name: 'client-b',
      nodeName: 'node-a',
      labels: { app: 'client' },
      annotations: {
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
          { name: NET, interface: 'net1', ips: ['10.79.0.4'], default: false },
        ]),
      },
    });
    await eventually('client-b is allowed after its label change', () => podReaches(server!, b!, serverIp, 5555));

    api.putPod({
      namespace: 'test',
      name: 'client-a',
      nodeName: 'node-a',
      labels: { app: 'gone' },
      annotations: {
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
          { name: NET, interface: 'net1', ips: ['10.79.0.3'], default: false },
        ]),
      },
    });
    await eventually(
      'client-a is denied after its label change',
      async () => !(await podReaches(server!, a!, serverIp, 5555)),
    );

    api.deletePolicy('test', 'allow-clients');
    await eventually('the deleted policy no longer isolates the server', () => podReaches(server!, a!, serverIp, 5555));
    expect(logs.filter((l) => /failed|keeps its previous/.test(l))).toEqual([]);
  });
});
