import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeNadSource, KubePodSource } from '../../src/k8s/api-sources.ts';
import { recordAddedInterfaces } from '../../src/k8s/events.ts';
import { KubeClient } from '../../src/k8s/rest-client.ts';
import { firstPod } from '../../src/k8s/sources.ts';
import { writeNetworkStatus } from '../../src/k8s/status-writer.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus } from '../../src/k8s/types.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { failure } from '../helpers/failure.ts';

let fake: FakeApiServer;
let client: KubeClient;

beforeEach(async () => {
  fake = await FakeApiServer.start();
  client = new KubeClient(
    {
      server: fake.url,
      source: 'kubeconfig /etc/cni/net.d/braid.d/braid.kubeconfig',
      auth: { kind: 'none' },
      insecureSkipTlsVerify: false,
    },
    { timeoutMs: 500, retries: 2, retryDelayMs: 10 },
  );
});
afterEach(async () => {
  client.close();
  await fake.close();
});

describe('KubePodSource: K8S_POD_UID check', () => {
  it('returns the pod when the UID matches or none was given', async () => {
    fake.setPod({ namespace: 'team-a', name: 'web-0', uid: 'uid-1', labels: { app: 'web' }, annotations: { x: 'y' } });
    const pods = new KubePodSource(client);
    expect(await pods.getPod('team-a', 'web-0', 'uid-1')).toEqual({
      namespace: 'team-a',
      name: 'web-0',
      uid: 'uid-1',
      labels: { app: 'web' },
      annotations: { x: 'y' },
    });
    expect((await pods.getPod('team-a', 'web-0'))?.uid).toBe('uid-1');
    expect(await pods.getPod('team-a', 'gone', 'uid-9')).toBeUndefined();
  });

  it('fails naming both UIDs when the pod was re-created under the same name', async () => {
    fake.setPod({ namespace: 'team-a', name: 'web-0', uid: 'uid-new' });
    const err = await failure(new KubePodSource(client).getPod('team-a', 'web-0', 'uid-old'));
    expect(err.message).toContain('team-a/web-0');
    expect(err.message).toContain('uid-new');
    expect(err.message).toContain('uid-old');
  });

  it("accepts static pods and their mirror pods, whose API UID differs from kubelet's", async () => {
    fake.setPod({
      namespace: 'kube-system',
      name: 'etcd-node-a',
      uid: 'mirror-uid',
      annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.mirror': 'static-hash' },
    });
    fake.setPod({
      namespace: 'kube-system',
      name: 'static-b',
      uid: 'api-uid',
      annotations: { 'kubernetes.io/config.source': 'http' },
    });
    const pods = new KubePodSource(client);
    expect((await pods.getPod('kube-system', 'etcd-node-a', 'static-hash'))?.uid).toBe('mirror-uid');
    expect(await pods.getPod('kube-system', 'static-b', 'kubelet-uid')).toBeDefined();
  });

  it('works as one of several pod sources', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    const found = await firstPod([new KubePodSource(client)], 'ns', 'p');
    expect(found?.source).toBe('kubernetes');
  });

  it('fails with code 11 inside the time bound when the API server does not answer', async () => {
    fake.inject({ kind: 'hang' }, {}, 10);
    const start = Date.now();
    const err = await failure(new KubePodSource(client).getPod('ns', 'p', 'u'));
    expect(err.code).toBe(11);
    expect(Date.now() - start).toBeLessThan(client.totalTimeoutMs + 100);
  });
});

describe('KubeNadSource', () => {
  it('asks the API once per distinct NAD, "not found" included', async () => {
    fake.setNad('team-a', 'macvlan', '{"cniVersion":"1.0.0","type":"macvlan","master":"eth0"}');
    const nads = new KubeNadSource(client);
    const [a, b] = await Promise.all([nads.getNad('team-a', 'macvlan'), nads.getNad('team-a', 'macvlan')]);
    expect(a).toBe(b);
    expect(await nads.getNad('team-a', 'macvlan')).toBe(a);
    expect(await nads.getNad('team-a', 'absent')).toBeUndefined();
    expect(await nads.getNad('team-a', 'absent')).toBeUndefined();
    expect(fake.requests).toHaveLength(2);
  });

  it('does not keep a failure, so the next ADD asks again', async () => {
    fake.setNad('team-a', 'macvlan', '{}');
    fake.inject({ kind: 'status', code: 500 }, {}, 3);
    const nads = new KubeNadSource(client);
    expect((await failure(nads.getNad('team-a', 'macvlan'))).code).toBe(11);
    expect((await nads.getNad('team-a', 'macvlan'))?.metadata.name).toBe('macvlan');
  });
});

const statuses: NetworkStatus[] = [
  { name: 'cbr0', interface: 'eth0', ips: ['10.244.1.5'], mac: '0a:58:0a:f4:01:05', default: true, dns: {} },
  {
    name: 'team-a/macvlan',
    interface: 'net1',
    ips: ['192.168.1.200'],
    mac: '02:42:c0:a8:01:c8',
    default: false,
    dns: {},
  },
];

describe('network-status on ADD', () => {
  it('patches only its annotation through pods/status, keeping annotations written meanwhile', async () => {
    fake.setPod({ namespace: 'team-a', name: 'web-0', annotations: { 'k8s.v1.cni.cncf.io/networks': 'macvlan' } });
    const seen = await new KubePodSource(client).getPod('team-a', 'web-0');
    // Between braid's read and its write, someone else annotates the pod.
    fake.annotatePod('team-a', 'web-0', { 'example.com/owner': 'ci' });
    const revisionBefore = Number(fake.pod('team-a', 'web-0')!.metadata.resourceVersion);
    expect(seen?.annotations['example.com/owner']).toBeUndefined();
    expect(await writeNetworkStatus(client, 'team-a', 'web-0', statuses)).toBe(true);

    const patch = fake.requests.at(-1)!;
    expect(patch.method).toBe('PATCH');
    expect(patch.path).toBe('/api/v1/namespaces/team-a/pods/web-0/status');
    expect(patch.contentType).toBe('application/merge-patch+json');
    expect(Object.keys((patch.body as { metadata: { annotations: object } }).metadata.annotations)).toEqual([
      ANNOTATION_NETWORK_STATUS,
    ]);

    const pod = fake.pod('team-a', 'web-0')!;
    expect(pod.metadata.annotations?.['example.com/owner']).toBe('ci');
    expect(pod.metadata.annotations?.['k8s.v1.cni.cncf.io/networks']).toBe('macvlan');
    const written = pod.metadata.annotations?.[ANNOTATION_NETWORK_STATUS] ?? '';
    expect(JSON.parse(written)).toEqual(statuses);
    expect(written).toMatch(/^\[\n {4}\{\n {8}"name": "cbr0",/); // indented like Multus
    expect(Number(pod.metadata.resourceVersion)).toBeGreaterThan(revisionBefore);
  });

  it('retries a 409 Conflict', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.inject({ kind: 'status', code: 409 }, { method: 'PATCH' });
    expect(await writeNetworkStatus(client, 'ns', 'p', statuses)).toBe(true);
    expect(fake.requests.map((r) => r.method)).toEqual(['PATCH', 'PATCH']);
    expect(fake.pod('ns', 'p')?.metadata.annotations?.[ANNOTATION_NETWORK_STATUS]).toBeDefined();
  });

  it('answers false, not an error, for a pod deleted during its ADD', async () => {
    expect(await writeNetworkStatus(client, 'ns', 'deleted', statuses)).toBe(false);
  });
});

describe('AddedInterface events', () => {
  it('creates one Normal event per attachment', async () => {
    fake.setPod({ namespace: 'team-a', name: 'web-0', uid: 'u1' });
    const created = await recordAddedInterfaces(
      client,
      { namespace: 'team-a', name: 'web-0', uid: 'u1' },
      statuses,
      'node-a',
    );
    expect(created).toBe(2);
    expect(fake.events.map((e) => [e.reason, e.message])).toEqual([
      ['AddedInterface', 'Add eth0 [10.244.1.5] from cbr0'],
      ['AddedInterface', 'Add net1 [192.168.1.200] from team-a/macvlan'],
    ]);
    expect(fake.requests[0]?.path).toBe('/api/v1/namespaces/team-a/events');
  });

  it('never fails the ADD and stops after the first failure', async () => {
    fake.inject({ kind: 'status', code: 500 }, {}, 10);
    expect(await recordAddedInterfaces(client, { namespace: 'ns', name: 'p' }, statuses)).toBe(0);
    expect(fake.requests).toHaveLength(1);
  });
});
