import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { networkStatusEntries, parseNetworkStatus } from '../../../src/k8s/network-status.ts';
import { PodStore } from '../../../src/k8s/pod-store.ts';
import { ANNOTATION_NETWORK_STATUS, ANNOTATION_NETWORKS } from '../../../src/k8s/types.ts';

let dir: string;
let store: PodStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-pod-store-'));
  store = new PodStore(dir);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function put(rel: string, text: string): string {
  const file = join(dir, rel);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const manifest = `# the demo pod
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: team-a
  uid: 1111-2222
  labels:
    app: web
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "macvlan-conf", "interface": "data0"}]'
spec:
  containers:
    - name: web
      image: busybox
`;

describe('PodStore', () => {
  it('reads a YAML manifest at <podDir>/<namespace>/<name>.yaml', async () => {
    put('team-a/web-0.yaml', manifest);
    expect(await store.getPod('team-a', 'web-0')).toEqual({
      namespace: 'team-a',
      name: 'web-0',
      uid: '1111-2222',
      labels: { app: 'web' },
      annotations: { [ANNOTATION_NETWORKS]: '[{"name": "macvlan-conf", "interface": "data0"}]' },
    });
  });

  it('reads a JSON manifest', async () => {
    put(
      'team-a/db.json',
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db', annotations: { a: 'b' } } }),
    );
    expect(await store.getPod('team-a', 'db')).toEqual({
      namespace: 'team-a',
      name: 'db',
      labels: {},
      annotations: { a: 'b' },
    });
  });

  it('knows nothing of a missing pod, another UID, or a name that is not a Kubernetes name', async () => {
    put('team-a/web-0.yaml', manifest);
    expect(await store.getPod('team-a', 'web-1')).toBeUndefined();
    expect(await store.getPod('team-a', 'web-0', 'other-uid')).toBeUndefined();
    expect(await store.getPod('team-a', 'web-0', '1111-2222')).toBeDefined();
    expect(await store.getPod('..', 'etc')).toBeUndefined();
    expect(await store.getPod('team-a', '../team-a/web-0')).toBeUndefined();
  });

  it('names the file when the manifest is wrong', async () => {
    put(
      'team-a/bad.yaml',
      'metadata:\n  name: bad\n  annotations:\n    k8s.v1.cni.cncf.io/networks: [{"name": "x"}]\n',
    );
    await expect(store.getPod('team-a', 'bad')).rejects.toMatchObject({
      code: 7,
      message: expect.stringMatching(/bad\.yaml.*must be a string \(quote the value in YAML\)/),
    });
    put('team-a/other.yaml', 'metadata:\n  name: someone-else\n');
    await expect(store.getPod('team-a', 'other')).rejects.toThrow(/"metadata.name" is "someone-else"/);
    put('team-a/broken.json', '{');
    await expect(store.getPod('team-a', 'broken')).rejects.toThrow(/broken\.json: cannot be parsed/);
  });

  it('writes and removes pods', async () => {
    const file = await store.writePod({
      namespace: 'team-b',
      name: 'api',
      uid: 'u',
      labels: { a: 'b' },
      annotations: { x: 'y' },
    });
    expect(file).toBe(join(dir, 'team-b', 'api.yaml'));
    expect(await store.getPod('team-b', 'api')).toEqual({
      namespace: 'team-b',
      name: 'api',
      uid: 'u',
      labels: { a: 'b' },
      annotations: { x: 'y' },
    });
    expect(store.removePod('team-b', 'api')).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(store.removePod('team-b', 'api')).toBe(false);
    await expect(store.writePod({ namespace: 'Bad', name: 'x', labels: {}, annotations: {} })).rejects.toMatchObject({
      code: 7,
    });
  });

  it('keeps network-status in a status file beside a YAML manifest, which stays as written', async () => {
    const file = put('team-a/web-0.yaml', manifest);
    const entries = networkStatusEntries('kube-system/flannel', 'eth0', undefined, { isDefault: true });
    expect(await store.setNetworkStatus('team-a', 'web-0', entries)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(manifest);
    const pod = await store.getPod('team-a', 'web-0');
    expect(parseNetworkStatus(pod!.annotations[ANNOTATION_NETWORK_STATUS]!)).toEqual(entries);
    expect(pod!.annotations[ANNOTATION_NETWORKS]).toBe('[{"name": "macvlan-conf", "interface": "data0"}]');
    expect(pod!.labels).toEqual({ app: 'web' });
    expect(readdirSync(join(dir, 'team-a')).sort()).toEqual(['.status', 'web-0.yaml']);
    expect(store.removePod('team-a', 'web-0')).toBe(true);
    expect(readdirSync(join(dir, 'team-a', '.status'))).toEqual([]);
  });

  it('keeps network-status for a JSON manifest without annotations', async () => {
    const file = put(
      'team-a/db.json',
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db' }, spec: { x: 1 } }),
    );
    const entries = networkStatusEntries('ns/a', 'net1', undefined, { isDefault: true });
    expect(await store.setNetworkStatus('team-a', 'db', entries)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8')).metadata.annotations).toBeUndefined();
    const pod = await store.getPod('team-a', 'db');
    expect(parseNetworkStatus(pod!.annotations[ANNOTATION_NETWORK_STATUS]!)).toEqual(entries);
  });

  it('reports false when the store has no manifest for the pod', async () => {
    expect(await store.setNetworkStatus('team-a', 'ghost', [])).toBe(false);
  });
});
