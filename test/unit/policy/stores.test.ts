import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildClusterView } from '../../../src/policy/cluster.ts';
import { ShadowStore } from '../../../src/policy/shadow.ts';
import { PolicyStore, manifestFiles } from '../../../src/policy/store.ts';
import { cleanupTemps, makeTempDir } from '../../helpers/tmp.ts';
import { mnp } from './fixtures.ts';

afterEach(() => cleanupTemps());

describe('the local policy store', () => {
  it('stores policies and namespaces, lists them, deletes policies, and applies nothing when one document is invalid', () => {
    const dir = makeTempDir();
    const src = join(dir, 'in');
    mkdirSync(src);
    writeFileSync(join(src, 'a.yaml'), mnp('a', 'app', 'net1', 'podSelector: {}\ningress: []'));
    writeFileSync(
      join(src, 'b.yml'),
      `${mnp('b', 'app', 'net1', 'podSelector: {}')}apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: a}}\n`,
    );
    writeFileSync(join(src, 'notes.txt'), 'ignored');
    const store = new PolicyStore(join(dir, 'store'));
    expect(manifestFiles(src).map((f) => f.slice(src.length + 1))).toEqual(['a.yaml', 'b.yml']);
    expect(store.apply(manifestFiles(src))).toEqual({ policies: ['app/a', 'app/b'], namespaces: ['app'], skipped: [] });
    expect(store.policies().map((p) => `${p.namespace}/${p.name}`)).toEqual(['app/a', 'app/b']);
    expect(store.namespaces()).toEqual([{ name: 'app', labels: { team: 'a' } }]);

    writeFileSync(join(src, 'c.yaml'), mnp('c', 'app', 'net1', 'podSelector: {}\ningress: [{ports: [{port: 0}]}]'));
    expect(() => store.apply(manifestFiles(src))).toThrow(
      /c.yaml: MultiNetworkPolicy app\/c: spec.ingress\[0\].ports\[0\].port/,
    );
    expect(readdirSync(join(dir, 'store', 'app')).sort()).toEqual(['a.json', 'b.json']);

    expect(store.delete('app', 'a')).toBe(true);
    expect(store.delete('app', 'a')).toBe(false);
    expect(store.policies().map((p) => p.name)).toEqual(['b']);
  });

  it('puts policies without a namespace into the given default namespace', () => {
    const dir = makeTempDir();
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      'apiVersion: k8s.cni.cncf.io/v1beta1\nkind: MultiNetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n',
    );
    const store = new PolicyStore(join(dir, 'store'));
    expect(store.apply([file], 'team-x').policies).toEqual(['team-x/p']);
    expect(store.policies()[0]).toMatchObject({ namespace: 'team-x', name: 'p' });
  });
});

describe('the cluster view', () => {
  it('takes labels and named ports from pod manifests and addresses from attached interfaces, the cache, then network-status', () => {
    const dir = makeTempDir();
    const pods = join(dir, 'pods');
    mkdirSync(join(pods, 'app'), { recursive: true });
    const status = JSON.stringify([
      { name: 'app/net1', interface: 'net1', ips: ['10.1.0.5'], default: false },
      { name: 'cbr0', interface: 'eth0', ips: ['10.244.0.5'], default: true },
    ]);
    writeFileSync(
      join(pods, 'app', 'web.yaml'),
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\n  annotations:\n    k8s.v1.cni.cncf.io/network-status: '${status}'\nspec:\n  containers:\n  - name: c\n    ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]\n`,
    );
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    writeFileSync(
      join(cache, 'c1-eth0.json'),
      JSON.stringify({
        kind: 'braidCacheV1',
        containerId: 'c1',
        ifname: 'eth0',
        pod: { namespace: 'app', name: 'db' },
        attachments: [],
        networkStatus: [{ name: 'app/net1', interface: 'net1', ips: ['10.1.0.6'], default: false }],
      }),
    );
    const view = buildClusterView(
      pods,
      cache,
      [{ pod: { namespace: 'app', name: 'web' }, network: 'app/net1', ifname: 'net1', ips: ['10.1.0.99'] }],
      [],
    );
    const web = view.pods.find((p) => p.name === 'web')!;
    expect(web.labels).toEqual({ app: 'web' });
    expect(web.namedPorts).toEqual([
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'dns', protocol: 'UDP', port: 53 },
    ]);
    expect(web.attachments).toEqual([
      { network: 'app/net1', ifname: 'net1', ips: ['10.1.0.99'] },
      { network: 'cbr0', ifname: 'eth0', ips: ['10.244.0.5'] },
    ]);
    expect(view.pods.find((p) => p.name === 'db')!.attachments).toEqual([
      { network: 'app/net1', ifname: 'net1', ips: ['10.1.0.6'] },
    ]);
  });
});

describe('the shadow of written entries', () => {
  it('round-trips and is not trusted while dirty', () => {
    const shadows = new ShadowStore(join(makeTempDir(), 'shadow'));
    const tries = {
      0: { peer4: new Map([['0a', 5n]]), peer6: new Map(), ports: new Map([['ff', 1n << 100n]]) },
      1: { peer4: new Map(), peer6: new Map(), ports: new Map() },
    };
    shadows.save(3, { hash: 42n, tries });
    expect(shadows.read(3)).toEqual({ hash: 42n, tries });
    shadows.markDirty(3);
    expect(shadows.read(3)).toBeUndefined();
    shadows.remove(3);
    expect(shadows.read(3)).toBeUndefined();
  });
});
