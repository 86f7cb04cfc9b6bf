import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NadDirectory } from '../../../src/k8s/nad-directory.ts';
import { MemoryYamlCache } from '../../../src/k8s/parsed-yaml-cache.ts';
import { PodStore } from '../../../src/k8s/pod-store.ts';

/** braid-agent keeps parsed local NADs and pods in memory: an edit on disk must be seen at the next call. */
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-yaml-memo-'));
  fs.mkdirSync(path.join(dir, 'nads'));
  fs.mkdirSync(path.join(dir, 'pods', 'ns1'), { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const nad = (master: string) =>
  `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: mv1\n  namespace: ns1\nspec:\n  config: '{"cniVersion":"1.0.0","type":"macvlan","master":"${master}"}'\n`;
const pod = (networks: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: ns1\n  labels:\n    app: a\n  annotations:\n    k8s.v1.cni.cncf.io/networks: ${networks}\n`;

describe('parsed manifests kept in memory', () => {
  it('a NAD edited on disk, even to the same size, is read anew at the next call', async () => {
    const cache = new MemoryYamlCache();
    const file = path.join(dir, 'nads', 'mv1.yaml');
    fs.writeFileSync(file, nad('eth1'));
    const first = await new NadDirectory(path.join(dir, 'nads'), cache).getNad('ns1', 'mv1');
    expect(first?.spec?.config).toContain('"master":"eth1"');
    fs.writeFileSync(file, nad('eth2'));
    const second = await new NadDirectory(path.join(dir, 'nads'), cache).getNad('ns1', 'mv1');
    expect(second?.spec?.config).toContain('"master":"eth2"');
    fs.rmSync(file);
    expect(await new NadDirectory(path.join(dir, 'nads'), cache).getNad('ns1', 'mv1')).toBeUndefined();
  });

  it("a pod's annotations edited on disk are seen, and no caller can change what the next one reads", async () => {
    const cache = new MemoryYamlCache();
    const file = path.join(dir, 'pods', 'ns1', 'p1.yaml');
    fs.writeFileSync(file, pod('mv1'));
    const first = await new PodStore(path.join(dir, 'pods'), cache).getPod('ns1', 'p1');
    expect(first?.annotations['k8s.v1.cni.cncf.io/networks']).toBe('mv1');
    first!.labels.app = 'changed by a caller';
    const again = await new PodStore(path.join(dir, 'pods'), cache).getPod('ns1', 'p1');
    expect(again?.labels).toEqual({ app: 'a' });
    fs.writeFileSync(file, pod('mv2'));
    const edited = await new PodStore(path.join(dir, 'pods'), cache).getPod('ns1', 'p1');
    expect(edited?.annotations['k8s.v1.cni.cncf.io/networks']).toBe('mv2');
  });

  it('stays bounded', () => {
    const cache = new MemoryYamlCache(2);
    for (const f of ['a', 'b', 'c']) cache.set(f, f, [f]);
    expect(cache.get('a', 'a')).toBeUndefined();
    expect(cache.get('c', 'c')).toEqual(['c']);
  });
});
