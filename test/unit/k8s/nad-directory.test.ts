import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NadDirectory } from '../../../src/k8s/nad-directory.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-nads-'));
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

const nadYaml = (name: string, namespace?: string) => `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  config: '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0"}'
`;

describe('NadDirectory', () => {
  it('reads NADs from multi-document YAML, skipping other kinds; no namespace means "default"', async () => {
    put(
      'nads.yaml',
      `${nadYaml('macvlan-conf')}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n---\n${nadYaml('bridge', 'team-a')}`,
    );
    const nads = new NadDirectory(dir);
    const found = await nads.getNad('default', 'macvlan-conf');
    expect(found?.metadata).toEqual({ name: 'macvlan-conf', namespace: 'default' });
    expect(JSON.parse(found!.spec!.config!)).toMatchObject({ type: 'macvlan' });
    expect((await nads.getNad('team-a', 'bridge'))?.metadata.name).toBe('bridge');
    expect(await nads.getNad('team-a', 'macvlan-conf')).toBeUndefined();
  });

  it('reads .yml, .json, kind: List and subdirectories, and skips dot-files', async () => {
    put('a.yml', nadYaml('from-yml'));
    put(
      'team-b/b.json',
      JSON.stringify({
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: 'from-json', namespace: 'team-b' },
      }),
    );
    put(
      'list.yaml',
      `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: k8s.cni.cncf.io/v1\n    kind: NetworkAttachmentDefinition\n    metadata:\n      name: from-list\n`,
    );
    put('..2024_01_01/a.yml', nadYaml('from-yml'));
    put('.hidden.yaml', 'not: [valid');
    put('notes.txt', 'ignored');
    const nads = new NadDirectory(dir);
    expect(await nads.getNad('default', 'from-yml')).toBeDefined();
    expect((await nads.getNad('team-b', 'from-json'))?.spec).toBeUndefined();
    expect(await nads.getNad('default', 'from-list')).toBeDefined();
    expect((await nads.list()).problems).toEqual([]);
  });

  it('follows the symlinks of a ConfigMap volume without counting the ..data copies twice', async () => {
    put('..data/nad.yaml', nadYaml('cm-nad'));
    symlinkSync('..data/nad.yaml', join(dir, 'nad.yaml'));
    const nads = new NadDirectory(dir);
    expect(await nads.getNad('default', 'cm-nad')).toBeDefined();
    expect((await nads.list()).nads).toHaveLength(1);
  });

  it('names both files when a NAD is defined twice', async () => {
    put('a.yaml', nadYaml('dup', 'team-a'));
    put('b.yaml', nadYaml('dup', 'team-a'));
    put('c.yaml', nadYaml('fine', 'team-a'));
    const nads = new NadDirectory(dir);
    await expect(nads.getNad('team-a', 'dup')).rejects.toMatchObject({
      code: 7,
      message: expect.stringMatching(/team-a\/dup.*a\.yaml.*b\.yaml/),
    });
    expect(await nads.getNad('team-a', 'fine')).toBeDefined();
  });

  it('validates NADs with the schema and names the broken file when a lookup finds nothing', async () => {
    put('good.yaml', nadYaml('good'));
    put('bad.yaml', nadYaml('Bad_Name'));
    put('broken.yaml', 'apiVersion: [');
    put('wrong-version.yaml', nadYaml('old').replace('k8s.cni.cncf.io/v1', 'k8s.cni.cncf.io/v1beta1'));
    const nads = new NadDirectory(dir);
    expect(await nads.getNad('default', 'good')).toBeDefined();
    const err = await nads.getNad('default', 'missing').catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 7 });
    expect((err as Error).message).toContain('bad.yaml: "metadata.name" must be a DNS-1123 subdomain');
    expect((err as Error).message).toContain('broken.yaml: is not valid YAML');
    expect((err as Error).message).toContain('wrong-version.yaml: "apiVersion" must be "k8s.cni.cncf.io/v1"');
  });

  it('reads the directory once and hands out copies', async () => {
    put('a.yaml', nadYaml('once'));
    const nads = new NadDirectory(dir);
    const first = await nads.getNad('default', 'once');
    first!.metadata.name = 'changed';
    rmSync(join(dir, 'a.yaml'));
    expect((await nads.getNad('default', 'once'))?.metadata.name).toBe('once');
  });

  it('treats a missing directory as empty', async () => {
    expect(await new NadDirectory(join(dir, 'nope')).getNad('default', 'x')).toBeUndefined();
  });
});
