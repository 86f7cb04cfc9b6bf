import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
// @ts-expect-error: a plain .mjs build script without types
import { ociArchive, qualifiedName } from '../../../scripts/image/oci.mjs';
// @ts-expect-error: a plain .mjs build script without types
import { TarWriter } from '../../../scripts/image/tar.mjs';
import { makeTempDir } from '../../helpers/tmp.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('npm run image: the OCI archive', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a tar that GNU tar reads, whose blobs are named by their sha256 and whose index names the image twice', () => {
    dir = makeTempDir('braid-image');
    const layer = new TarWriter(1_700_000_000);
    layer.dir('usr/local/bin');
    layer.file('usr/local/bin/braid', Buffer.from('#!binary'), 0o755);
    layer.hardlink('usr/local/bin/braid-agent', 'usr/local/bin/braid');
    layer.symlink('lib', 'usr/lib');
    const layerTar: Buffer = layer.toBuffer();
    const { archive } = ociArchive({
      layerTar,
      name: 'braid:9.9.9',
      created: new Date(0),
      mtime: 0,
      config: { Cmd: ['/x'] },
    });
    writeFileSync(join(dir, 'image.tar'), archive);
    writeFileSync(join(dir, 'layer.tar'), layerTar);
    expect(execFileSync('tar', ['-tvf', join(dir, 'layer.tar')], { encoding: 'utf8' })).toMatch(
      /usr\/local\/bin\/braid-agent link to usr\/local\/bin\/braid/,
    );

    mkdirSync(join(dir, 'out'));
    execFileSync('tar', ['-xf', join(dir, 'image.tar'), '-C', join(dir, 'out')]);
    const blobs = join(dir, 'out', 'blobs', 'sha256');
    for (const name of readdirSync(blobs)) expect(sha(readFileSync(join(blobs, name)))).toBe(name);
    const index = JSON.parse(readFileSync(join(dir, 'out', 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations).toEqual({
      'org.opencontainers.image.ref.name': 'braid:9.9.9',
      'io.containerd.image.name': 'docker.io/library/braid:9.9.9',
    });
    const manifest = JSON.parse(readFileSync(join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
    const config = JSON.parse(readFileSync(join(blobs, manifest.config.digest.slice(7)), 'utf8'));
    const gz = readFileSync(join(blobs, manifest.layers[0].digest.slice(7)));
    expect(config.rootfs.diff_ids).toEqual([`sha256:${sha(gunzipSync(gz))}`]);
  });

  it('qualifies names as kubelet does', () => {
    expect(qualifiedName('braid:0.1.0')).toBe('docker.io/library/braid:0.1.0');
    expect(qualifiedName('team/braid:1')).toBe('docker.io/team/braid:1');
    expect(qualifiedName('registry.example.com/braid:1')).toBe('registry.example.com/braid:1');
    expect(qualifiedName('localhost/braid:1')).toBe('localhost/braid:1');
  });
});

describe('examples/kubernetes', () => {
  it('kustomization.yaml lists every manifest of the directory', () => {
    const dir = join(repo, 'examples', 'kubernetes');
    const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
      resources: string[];
    };
    expect([...k.resources].sort()).toEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort(),
    );
  });

  it('names the image the build sets, braid:<package.json version>, in every container and in kustomization.yaml', () => {
    const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;
    const dir = join(repo, 'examples', 'kubernetes');
    const images: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const obj = doc.toJS() as {
          kind?: string;
          spec?: { template?: { spec?: Record<string, { image: string }[]> } };
          images?: { newName: string; newTag: string }[];
        };
        const pod = obj.spec?.template?.spec;
        for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) images.push(c.image);
        if (obj.kind === 'Kustomization') for (const i of obj.images ?? []) images.push(`${i.newName}:${i.newTag}`);
      }
    }
    expect(images.length).toBeGreaterThan(3);
    expect(new Set(images)).toEqual(new Set([`braid:${version}`]));
  });
});
