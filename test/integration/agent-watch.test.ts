import { afterEach, describe, expect, it } from 'vitest';
import { ClusterCache } from '../../src/agent/cluster-cache.ts';
import type { KubeAccess } from '../../src/k8s/kubeconfig.ts';
import { KubeClient } from '../../src/k8s/rest-client.ts';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';

/**
 * The agent's watches against the loopback API stand-in: paged lists, watches that resume from
 * the last resourceVersion (bookmarks included), a full relist only on 410 Gone, and recovery
 * from dropped connections, error answers and a slow API server.
 */
const NODE = 'node-a';
let api: FakeWatchApiServer | undefined;
let caches: ClusterCache[] = [];
const logs: string[] = [];

afterEach(async () => {
  await Promise.all(caches.map((c) => c.stop()));
  caches = [];
  await api?.close();
  api = undefined;
  logs.length = 0;
});

async function startApi(): Promise<FakeWatchApiServer> {
  api = await FakeWatchApiServer.startWatchable();
  return api;
}

function startCache(
  fake: FakeWatchApiServer,
  opts: { policy?: boolean; pageSize?: number; onChange?: (r: string) => void } = {},
): ClusterCache {
  const access: KubeAccess = { server: fake.url, source: 'test', auth: { kind: 'none' }, insecureSkipTlsVerify: false };
  const client = new KubeClient(access, { timeoutMs: 2_000, retries: 0 });
  const cache = new ClusterCache(client, access, {
    nodeName: NODE,
    policy: opts.policy ?? true,
    log: (l) => logs.push(l),
    onPolicyInputChange: opts.onChange,
    reflector: {
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: 30,
      minBackoffMs: 20,
      maxBackoffMs: 200,
      idleGraceMs: 1_000,
    },
  });
  caches.push(cache);
  cache.start();
  return cache;
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; agent log:\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reflector = (cache: ClusterCache, name: string) => cache.reflectors.find((r) => r.spec.name === name)!;

describe('agent watches', () => {
  it('lists in pages, then follows the watch: adds, changes and deletes', async () => {
    const fake = await startApi();
    for (let i = 0; i < 1_200; i++)
      fake.putPod({
        namespace: 'ns',
        name: `p${i}`,
        nodeName: i % 10 === 0 ? NODE : 'node-b',
        labels: { app: `a${i % 7}` },
      });
    fake.setNad('ns', 'macvlan', '{"cniVersion":"1.0.0","type":"macvlan"}');
    const cache = startCache(fake, { pageSize: 500 });
    await cache.whenSynced();
    expect(cache.pods.size).toBe(1_200);
    expect(cache.localPods.size).toBe(120);
    expect(fake.lists.pods).toBe(3);
    expect(cache.nads.get('ns/macvlan')?.spec?.config).toContain('macvlan');
    // Pods on this node keep their metadata without managedFields; the rest only what policy needs.
    expect(cache.localPods.get('ns/p0')?.metadata).not.toHaveProperty('managedFields');
    expect(Object.keys(cache.pods.get('ns/p1')!).sort()).toEqual([
      'attachments',
      'labels',
      'name',
      'namedPorts',
      'namespace',
    ]);

    fake.putPod({
      namespace: 'ns',
      name: 'new',
      nodeName: NODE,
      labels: { app: 'x' },
      ports: [{ name: 'http', containerPort: 8080 }],
    });
    fake.deletePod('ns', 'p1');
    fake.setNad('ns', 'macvlan', '{"cniVersion":"1.0.0","type":"macvlan","mode":"private"}');
    await until(
      'the watch delivered the changes',
      () =>
        cache.localPods.get('ns/new') !== undefined &&
        !cache.pods.get('ns/p1') &&
        cache.nads.get('ns/macvlan')!.spec!.config!.includes('private'),
    );
    expect(cache.pods.get('ns/new')?.namedPorts).toEqual([{ name: 'http', protocol: 'TCP', port: 8080 }]);
    // A pod moving away from this node leaves the node-local cache.
    fake.putPod({ namespace: 'ns', name: 'new', nodeName: 'node-b' });
    await until('the pod left the local cache', () => cache.localPods.get('ns/new') === undefined);
    expect(fake.lists.pods).toBe(3);
  });

  it("without policy, watches only this node's pods (field selector)", async () => {
    const fake = await startApi();
    fake.putPod({ namespace: 'ns', name: 'mine', nodeName: NODE });
    fake.putPod({ namespace: 'ns', name: 'theirs', nodeName: 'node-b' });
    const cache = startCache(fake, { policy: false });
    await cache.whenSynced();
    expect(cache.localPods.size).toBe(1);
    expect(cache.pods.size).toBe(1);
    expect(cache.reflectors.map((r) => r.spec.name).sort()).toEqual(['nads', 'pods']);
    expect(fake.requests.some((r) => r.path.includes('fieldSelector=spec.nodeName%3Dnode-a'))).toBe(true);
  });

  it('resumes from the last bookmark after a dropped connection, without listing again', async () => {
    const fake = await startApi();
    fake.putNamespace('ns');
    const cache = startCache(fake);
    await cache.whenSynced();
    const pods = reflector(cache, 'pods');
    await until('the pod watch is open', () => fake.openWatches === 4);
    // Other resources move the version on; the bookmark tells the pod watch so.
    fake.putNamespace('other');
    fake.sendBookmarks();
    await until('a bookmark arrived', () => (pods.health.events.BOOKMARK ?? 0) > 0);
    const bookmarked = Number(pods.health.resourceVersion);
    expect(bookmarked).toBeGreaterThanOrEqual(Number(reflector(cache, 'namespaces').health.resourceVersion));

    fake.dropWatches();
    fake.putPod({ namespace: 'ns', name: 'during-outage', nodeName: NODE });
    await until('the pod made while disconnected arrived', () => cache.localPods.get('ns/during-outage') !== undefined);
    expect(fake.lists.pods).toBe(1);
    expect(pods.health.relistsGone).toBe(0);
    expect(pods.health.watches).toBeGreaterThanOrEqual(2);
    const resumed = fake.requests
      .filter((r) => r.path.startsWith('/api/v1/pods?') && r.path.includes('watch=1'))
      .at(-1)!;
    expect(new URL(resumed.path, 'http://x').searchParams.get('resourceVersion')).toBe(String(bookmarked));
  });

  it('lists again on 410 Gone and drops what was deleted meanwhile', async () => {
    const fake = await startApi();
    fake.putPod({ namespace: 'ns', name: 'stays', nodeName: NODE });
    fake.putPod({ namespace: 'ns', name: 'goes', nodeName: NODE });
    const cache = startCache(fake);
    await cache.whenSynced();
    await until('the watches are open', () => fake.openWatches === 4);
    fake.dropWatches();
    fake.deletePod('ns', 'goes');
    fake.putPod({ namespace: 'ns', name: 'arrives', nodeName: NODE });
    fake.compact();
    await until(
      'the relist replaced the cache',
      () => !cache.localPods.get('ns/goes') && cache.localPods.get('ns/arrives') !== undefined,
    );
    expect(reflector(cache, 'pods').health.relistsGone).toBeGreaterThanOrEqual(1);
    expect(fake.lists.pods).toBeGreaterThanOrEqual(2);
    expect(cache.localPods.get('ns/stays')).toBeDefined();
  });

  it('starts the list over when its continue token expires', async () => {
    const fake = await startApi();
    for (let i = 0; i < 5; i++) fake.putPod({ namespace: 'ns', name: `p${i}`, nodeName: NODE });
    let compacted = false;
    fake.onListPage = (c, page) => {
      if (c === 'pods' && page === 1 && !compacted) {
        compacted = true;
        fake.compact();
      }
    };
    const cache = startCache(fake, { pageSize: 2 });
    await cache.whenSynced();
    expect(cache.localPods.size).toBe(5);
    expect(reflector(cache, 'pods').health.relistsGone).toBe(1);
    expect(logs.join('\n')).toMatch(/continue token expired/);
  });

  it('backs off and recovers from error answers, a hung watch and a slow API server', async () => {
    const fake = await startApi();
    fake.putPod({ namespace: 'ns', name: 'p', nodeName: NODE });
    fake.inject({ kind: 'status', code: 500 }, { path: /^\/api\/v1\/pods$/ }, 3);
    fake.listDelayMs = 300;
    const cache = startCache(fake);
    expect(cache.notSynced()).toMatch(/not yet listed/);
    await cache.whenSynced();
    expect(cache.notSynced()).toBeUndefined();
    expect(reflector(cache, 'pods').health.lists).toBe(1);
    expect(logs.some((l) => /pods: list .*HTTP 500/.test(l))).toBe(true);

    // A watch the server never answers is abandoned after the idle bound and opened again.
    fake.listDelayMs = 0;
    await until('the watches are open', () => fake.openWatches === 4);
    fake.inject({ kind: 'hang' }, { path: /^\/api\/v1\/pods$/ }, 1);
    fake.dropWatches();
    await until('the hung watch was given up', () => reflector(cache, 'pods').health.watchFailures >= 2, 8_000);
    fake.putPod({ namespace: 'ns', name: 'later', nodeName: NODE });
    await until('the watch works again', () => cache.localPods.get('ns/later') !== undefined, 8_000);
  });

  it('treats a MultiNetworkPolicy CRD that is not installed as no policies', async () => {
    const fake = await startApi();
    fake.servePolicies = false;
    const cache = startCache(fake);
    await cache.whenSynced();
    expect(cache.policies.size).toBe(0);
    expect(logs.join('\n')).toMatch(/multi-networkpolicies is not served/);
  });

  it('parses policies, keeps invalid ones out and reports policy-relevant changes only', async () => {
    const fake = await startApi();
    fake.putPod({ namespace: 'ns', name: 'p', nodeName: 'node-b', labels: { app: 'db' } });
    const changes: string[] = [];
    const cache = startCache(fake, { onChange: (r) => changes.push(r) });
    await cache.whenSynced();
    expect(changes).toEqual([]);
    fake.putPolicy(
      'ns',
      'deny-all',
      { podSelector: {}, policyTypes: ['Ingress'] },
      { 'k8s.v1.cni.cncf.io/policy-for': 'macvlan' },
    );
    fake.putPolicy('ns', 'broken', { policyTypes: ['Ingress'] });
    await until('both policies arrived', () => cache.policies.size === 2);
    expect(cache.validPolicies().map((p) => `${p.namespace}/${p.name} ${p.policyFor.join(',')}`)).toEqual([
      'ns/deny-all ns/macvlan',
    ]);
    expect(logs.join('\n')).toMatch(/ns\/broken is ignored: .*podSelector/);
    changes.length = 0;
    // A status-only write (the same labels and addresses) is no change for policy.
    fake.putPod({ namespace: 'ns', name: 'p', nodeName: 'node-b', labels: { app: 'db' } });
    fake.putPod({ namespace: 'ns', name: 'p', nodeName: 'node-b', labels: { app: 'web' } });
    fake.putNamespace('ns', { team: 'a' });
    await until('the changes were reported', () => changes.includes('namespaces') && changes.includes('pods'));
    expect(changes.filter((c) => c === 'pods')).toHaveLength(1);
  });
});
