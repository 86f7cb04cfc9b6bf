import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cachePolicySource } from '../../src/agent/agent-policy-hooks.ts';
import { ClusterCache } from '../../src/agent/cluster-cache.ts';
import { Registry } from '../../src/agent/metrics.ts';
import { nodeReconciler, PolicySync, type PolicyReconciler } from '../../src/agent/policy-sync.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import type { KubeAccess } from '../../src/k8s/kubeconfig.ts';
import { KubeClient } from '../../src/k8s/rest-client.ts';
import { HeldDatapath } from '../../src/policy/held-datapath.ts';
import { stateDirOf } from '../../src/policy/runtime.ts';
import { isRoot } from '../bpf/env.ts';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { stopEchoServers } from '../helpers/traffic.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod, podReaches } from './policy-testbed.ts';

/**
 * Agent mode: pods a policy does not select at ADD get no programs; when a MultiNetworkPolicy
 * arrives through the agent's watch and selects one, the agent's sync attaches it (programs and
 * maps held open by the agent), and real traffic follows.
 */
const NET = 'default/net1';
let tb: PolicyTestbed | undefined;
let api: FakeWatchApiServer | undefined;
let cache: ClusterCache | undefined;
let sync: PolicySync | undefined;
let held: HeldDatapath | undefined;

afterEach(async () => {
  sync?.stop();
  held?.close();
  await cache?.stop();
  await api?.close();
  stopEchoServers();
  await tb?.cleanup();
  [tb, api, cache, sync, held] = [undefined, undefined, undefined, undefined, undefined];
  await destroyAllNetns();
  cleanupTemps();
});

const reaches = (server: TestPod, client: TestPod, addr: string) => podReaches(server, client, addr, 5555);

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

describe.skipIf(!isRoot)('agent: a policy that comes to select a pod later', () => {
  it('the sync attaches the pod the new policy selects, and only it', async () => {
    tb = await makePolicyTestbed();
    api = await FakeWatchApiServer.startWatchable();
    api.putNamespace('test');
    const access: KubeAccess = {
      server: api.url,
      source: 'test',
      auth: { kind: 'none' },
      insecureSkipTlsVerify: false,
    };
    cache = new ClusterCache(new KubeClient(access, { retries: 0 }), access, {
      nodeName: 'node-a',
      policy: true,
      log: () => undefined,
      onPolicyInputChange: (r) => sync?.schedule(r),
      reflector: { minBackoffMs: 20, maxBackoffMs: 200 },
    });
    cache.start();
    const pods: Record<string, TestPod> = {};
    for (const [i, [name, app]] of [
      ['server', 'server'],
      ['client-a', 'client'],
      ['client-b', 'other'],
    ].entries()) {
      const pod = (pods[name!] = await tb.pod(name!, { app: app! }));
      const ips = await tb.plugin(pod, 'bridge', {
        bridge: 'brlt0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `10.79.2.${i + 2}/24` }] },
      });
      api.putPod({
        namespace: 'test',
        name: name!,
        nodeName: 'node-a',
        labels: { app: app! },
        annotations: {
          'k8s.v1.cni.cncf.io/network-status': JSON.stringify([{ name: NET, interface: 'net1', ips, default: false }]),
        },
      });
      // ADD with no policy in the cluster: nothing selects the pod, so it gets no programs.
      expect(tb.admit(pod, NET, 'net1', ips)).toEqual({ attached: 0, touched: 0, written: 0, deleted: 0 });
    }
    await cache.whenSynced();
    const links = join(tb.pins.path, 'mnp', 'links');
    expect(existsSync(links) ? readdirSync(links) : []).toEqual([]);
    const { server, 'client-a': a, 'client-b': b } = pods as Record<string, TestPod>;
    const serverIp = '10.79.2.2';
    expect(await reaches(server!, b!, serverIp)).toBe(true);

    held = new HeldDatapath({ bpfRoot: tb.opts.bpfRoot, stateDir: stateDirOf(tb.opts) });
    const inner = nodeReconciler(tb.opts, held);
    const host = tb.host.path;
    const reconciler: PolicyReconciler = {
      reconcile: (inputsFor) => withNetns(host, () => inner.reconcile(inputsFor)),
    };
    sync = new PolicySync(reconciler, cache, new Registry(), {
      debounceMs: 20,
      periodMs: 60_000,
      log: () => undefined,
    });
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
    await eventually(
      'client-b is denied once the policy selects the server',
      async () => !(await reaches(server!, b!, serverIp)),
    );
    expect(await reaches(server!, a!, serverIp)).toBe(true);
    expect(readdirSync(links), 'only the selected server got programs').toHaveLength(1);
    // The cluster as the agent's ADDs would read it: the server is selected, the clients are not.
    const source = cachePolicySource(cache);
    expect(source.policies().map((p) => p.name)).toEqual(['allow-clients']);
    expect(source.pod('test', 'server')?.labels).toEqual({ app: 'server' });
    for (const p of Object.values(pods)) tb.release(p);
    expect(readdirSync(links)).toEqual([]);
  });
});
