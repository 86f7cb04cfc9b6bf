import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileMemo } from '../../../src/policy/file-memo.ts';
import { localPolicySource } from '../../../src/policy/source.ts';

/** braid-agent reads a new pod's labels through its FileMemo: an edit on disk must be seen at the next ADD. */
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-podview-'));
  fs.mkdirSync(path.join(dir, 'pods', 'ns1'), { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const manifest = (app: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: ns1\n  labels:\n    app: ${app}\n`;

describe("the agent's view of a pod from the pod store", () => {
  it('sees labels edited on disk, and no caller changes what the next one reads', () => {
    const memo = new FileMemo();
    const stores = { policyDir: path.join(dir, 'policies'), podDir: path.join(dir, 'pods'), cacheDir: dir };
    const file = path.join(dir, 'pods', 'ns1', 'p1.yaml');
    fs.writeFileSync(file, manifest('one'));
    const first = localPolicySource(stores, memo).pod('ns1', 'p1');
    expect(first?.labels).toEqual({ app: 'one' });
    first!.labels.app = 'changed by a caller';
    expect(localPolicySource(stores, memo).pod('ns1', 'p1')?.labels).toEqual({ app: 'one' });
    // Replaced as editors and kubectl-like tools do (a new inode), and edited in place.
    fs.writeFileSync(`${file}.new`, manifest('two'));
    fs.renameSync(`${file}.new`, file);
    expect(localPolicySource(stores, memo).pod('ns1', 'p1')?.labels).toEqual({ app: 'two' });
    fs.writeFileSync(file, manifest('three-and-more'));
    expect(localPolicySource(stores, memo).pod('ns1', 'p1')?.labels).toEqual({ app: 'three-and-more' });
    fs.rmSync(file);
    expect(localPolicySource(stores, memo).pod('ns1', 'p1')).toBeUndefined();
  });
});
