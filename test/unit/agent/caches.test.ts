import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CachedNadSource, CachedPodSource } from '../../../src/agent/cached-sources.ts';
import { FirstNadSource } from '../../../src/k8s/sources.ts';
import { FanOutSink, KeyedCache, type KubeObject } from '../../../src/agent/object-store.ts';
import { PolicySync, viewFromCache, type PolicyReconciler } from '../../../src/agent/policy-sync.ts';
import { Registry } from '../../../src/agent/metrics.ts';
import { localPod, slimPod, trimmedNad, type SlimPod } from '../../../src/agent/trim.ts';
import type { IfaceRecord } from '../../../src/policy/registry.ts';

const STATUS = 'k8s.v1.cni.cncf.io/network-status';

function pod(
  name: string,
  nodeName: string,
  extra: Partial<KubeObject['metadata']> = {},
  ports: object[] = [],
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      labels: { app: name },
      managedFields: [{ manager: 'x' }],
      ...extra,
    },
    spec: { nodeName, containers: [{ name: 'c', ports, env: [{ name: 'SECRET', value: 'x' }] }] },
    status: { phase: 'Running' },
  };
}

describe('what the agent keeps of each object', () => {
  it('a pod elsewhere: labels, named ports and network-status addresses, nothing else', () => {
    const status = JSON.stringify([
      { name: 'cluster', interface: 'eth0', ips: ['10.0.0.5'], default: true },
      { name: 'ns/macvlan', interface: 'net1', ips: ['192.168.1.5/24', 'fd00::5/64'], default: false },
    ]);
    const slim = slimPod(
      pod('web', 'node-b', { annotations: { [STATUS]: status, other: 'big' } }, [
        { name: 'http', containerPort: 80 },
        { containerPort: 9 },
      ]),
    );
    expect(slim).toEqual({
      namespace: 'ns',
      name: 'web',
      labels: { app: 'web' },
      namedPorts: [{ name: 'http', protocol: 'TCP', port: 80 }],
      attachments: [
        { network: 'cluster', ifname: 'eth0', ips: ['10.0.0.5'] },
        { network: 'ns/macvlan', ifname: 'net1', ips: ['192.168.1.5', 'fd00::5'] },
      ],
    });
    expect(slimPod(pod('x', 'n', { annotations: { [STATUS]: 'not json' } })).attachments).toEqual([]);
  });

  it("a pod of this node: metadata without managedFields; other nodes' pods: nothing", () => {
    const keep = localPod('node-a');
    const mine = keep(pod('web', 'node-a', { annotations: { 'k8s.v1.cni.cncf.io/networks': 'macvlan' } }))!;
    expect(mine.metadata).toEqual({
      name: 'web',
      namespace: 'ns',
      uid: 'uid-web',
      labels: { app: 'web' },
      annotations: { 'k8s.v1.cni.cncf.io/networks': 'macvlan' },
    });
    expect(mine.spec).toEqual({ nodeName: 'node-a' });
    expect(keep(pod('web', 'node-b'))).toBeUndefined();
    const nad = trimmedNad({ metadata: { name: 'm', namespace: 'ns', managedFields: [] }, spec: { config: '{}' } });
    expect(nad).toEqual({
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'm', namespace: 'ns' },
      spec: { config: '{}' },
    });
  });
});

describe('KeyedCache', () => {
  it('applies events, relists by mark and sweep, and reports only real changes', () => {
    const changes: string[] = [];
    const cache = new KeyedCache<SlimPod>({
      convert: slimPod,
      onChange: (k, b, a) => changes.push(`${k}:${b ? 'b' : '-'}${a ? 'a' : '-'}`),
    });
    cache.apply('ADDED', pod('a', 'n'));
    cache.apply('MODIFIED', pod('a', 'n'));
    cache.apply('MODIFIED', pod('a', 'n', { labels: { app: 'changed' } }));
    cache.apply('ADDED', pod('b', 'n'));
    const list = cache.beginList();
    list.add(pod('b', 'n'));
    list.add(pod('c', 'n'));
    list.finish();
    expect([...cache.values()].map((p) => p.name).sort()).toEqual(['b', 'c']);
    expect(changes).toEqual(['ns/a:-a', 'ns/a:ba', 'ns/b:-a', 'ns/c:-a', 'ns/a:b-']);
    cache.apply('DELETED', pod('c', 'n'));
    cache.apply('DELETED', pod('zzz', 'n'));
    expect(cache.size).toBe(1);
  });

  it('fans one watch out to several caches', () => {
    const all = new KeyedCache({ convert: slimPod });
    const mine = new KeyedCache({ convert: localPod('node-a') });
    const sink = new FanOutSink([all, mine]);
    const list = sink.beginList();
    list.add(pod('a', 'node-a'));
    list.add(pod('b', 'node-b'));
    list.finish();
    sink.apply('MODIFIED', pod('a', 'node-c'));
    expect([all.size, mine.size]).toEqual([2, 0]);
  });
});

describe('sources answered from the caches', () => {
  it('answers known pods and NADs and lets everything else fall through', async () => {
    const localPods = new KeyedCache({ convert: localPod('node-a') });
    localPods.apply('ADDED', pod('web', 'node-a', { annotations: { a: 'b' } }));
    const pods = new CachedPodSource({ localPods });
    expect(await pods.getPod('ns', 'web', 'uid-web')).toEqual({
      namespace: 'ns',
      name: 'web',
      uid: 'uid-web',
      labels: { app: 'web' },
      annotations: { a: 'b' },
    });
    // Re-created under the same name: the watch has not caught up; the API must answer.
    expect(await pods.getPod('ns', 'web', 'uid-new')).toBeUndefined();
    expect(await pods.getPod('ns', 'other')).toBeUndefined();

    const nads = new KeyedCache({ convert: trimmedNad });
    nads.apply('ADDED', { metadata: { name: 'm', namespace: 'ns' }, spec: { config: '{"type":"macvlan"}' } });
    const api = {
      kind: 'kubernetes',
      getNad: async (_ns: string, name: string) =>
        name === 'late' ? trimmedNad({ metadata: { name, namespace: 'ns' }, spec: {} }) : undefined,
    };
    const chain = new FirstNadSource([new CachedNadSource({ nads }), api]);
    expect(chain.kind).toBe('agent cache, then kubernetes');
    expect((await chain.getNad('ns', 'm'))?.spec?.config).toContain('macvlan');
    expect((await chain.getNad('ns', 'late'))?.metadata.name).toBe('late');
    expect(await chain.getNad('ns', 'none')).toBeUndefined();
  });
});

function record(ifaceId: number, podName: string, ips: string[]): IfaceRecord {
  return {
    ifaceId,
    containerId: `c${ifaceId}`,
    pod: { namespace: 'ns', name: podName },
    network: 'ns/macvlan',
    ifname: 'net1',
    netns: '/x',
    ips,
    hook: { place: 'pod-device', ifname: 'net1', ifindex: 3, netnsCookie: '1' },
    links: { in: '/a', out: '/b' },
    options: 0,
  };
}

describe('policy sync', () => {
  it('builds the cluster view from the caches plus the addresses of enforced interfaces', () => {
    const pods = new KeyedCache({ convert: slimPod });
    pods.apply('ADDED', pod('web', 'node-a'));
    const namespaces = new KeyedCache({
      convert: (o: KubeObject) => ({ name: o.metadata.name, labels: o.metadata.labels ?? {} }),
    });
    namespaces.apply('ADDED', { metadata: { name: 'ns', labels: { team: 'a' } } });
    const view = viewFromCache({ pods, namespaces }, [
      record(1, 'web', ['192.168.1.5/24']),
      record(2, 'unseen', ['192.168.1.6/24']),
    ]);
    expect(view.namespaces).toEqual([{ name: 'ns', labels: { team: 'a' } }]);
    expect(view.pods.find((p) => p.name === 'web')?.attachments).toEqual([
      { network: 'ns/macvlan', ifname: 'net1', ips: ['192.168.1.5'] },
    ]);
    expect(view.pods.find((p) => p.name === 'unseen')).toMatchObject({
      labels: {},
      attachments: [{ ips: ['192.168.1.6'] }],
    });
    // The cached pod itself is not modified.
    expect(pods.get('ns/web')?.attachments).toEqual([]);
  });

  it('debounces changes into one reconcile, starts only when asked, and counts failures', async () => {
    const runs: number[] = [];
    let fail = false;
    const reconciler: PolicyReconciler = {
      reconcile(inputsFor) {
        if (fail) throw new Error('maps busy');
        runs.push(inputsFor([]).policies.length);
        return { interfaces: 0, changed: 0, written: 2, deleted: 1, errors: [] };
      },
    };
    const registry = new Registry();
    const cache = {
      pods: new KeyedCache({ convert: slimPod }),
      namespaces: new KeyedCache({ convert: () => ({ name: 'x', labels: {} }) }),
      validPolicies: () => [],
    };
    const logs: string[] = [];
    const sync = new PolicySync(reconciler, cache, registry, {
      debounceMs: 20,
      periodMs: 60_000,
      log: (l) => logs.push(l),
    });
    sync.schedule('pods');
    await new Promise((r) => setTimeout(r, 40));
    expect(runs).toHaveLength(0);
    sync.start();
    sync.schedule('pods');
    sync.schedule('policies');
    await new Promise((r) => setTimeout(r, 60));
    expect(runs).toHaveLength(1);
    fail = true;
    sync.runNow();
    sync.stop();
    const text = registry.render();
    expect(text).toContain('braid_policy_reconciles_total{result="ok"} 1');
    expect(text).toContain('braid_policy_reconciles_total{result="error"} 1');
    expect(text).toContain('braid_policy_map_writes_total{op="write"} 2');
    expect(logs.join('\n')).toMatch(/reconcile failed: maps busy/);
  });

  it('reconciles when a thin-mode ADD records a new enforced interface', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'braid-t-registry-'));
    let runs = 0;
    const reconciler: PolicyReconciler = {
      reconcile: () => (runs++, { interfaces: 1, changed: 1, written: 0, deleted: 0, errors: [] }),
    };
    const cache = {
      pods: new KeyedCache({ convert: slimPod }),
      namespaces: new KeyedCache({ convert: () => ({ name: 'x', labels: {} }) }),
      validPolicies: () => [],
    };
    const sync = new PolicySync(reconciler, cache, new Registry(), {
      debounceMs: 10,
      periodMs: 60_000,
      registryDir: join(dir, 'ifaces'),
      log: () => undefined,
    });
    try {
      sync.start();
      await new Promise((r) => setTimeout(r, 50));
      const afterStart = runs;
      writeFileSync(join(dir, 'ifaces', '7.json'), '{}');
      for (let i = 0; i < 50 && runs === afterStart; i++) await new Promise((r) => setTimeout(r, 20));
      expect(runs).toBeGreaterThan(afterStart);
      sync.reconcileNow();
      expect(runs).toBeGreaterThan(afterStart + 1);
    } finally {
      sync.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
