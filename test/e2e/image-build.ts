import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { chrootHelperBinary } from '../helpers/braid-binary.ts';
import { mustRun } from '../helpers/exec.ts';
import { useSea } from '../helpers/sea.ts';

/**
 * braid's image (scripts/build-image.mjs) built from the current sources for the calling suite:
 * a private single executable and its host layout (useSea) and the private build's braid-chroot, packed with --fast
 * compression into a temp dir; removed after the suite. The name is the one the manifests use.
 */
const repoRoot = resolve(import.meta.dirname, '../..');
export const IMAGE_NAME = `braid:${(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version}`;

export interface BuiltImage {
  /** The OCI archive; set once the suite's beforeAll has run. */
  readonly archive: string;
  /** The private build's braid-chroot (for host-side calls into a fake host). */
  readonly chroot: string;
}

export function useImage(): BuiltImage {
  const sea = useSea();
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'braid-t-image-'));
    const node = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
    const image = [
      '--sea',
      sea.path('braid'),
      '--host-dir',
      join(sea.dir, 'host'),
      '--chroot-helper',
      chrootHelperBinary(),
    ];
    await mustRun(
      [node, join(repoRoot, 'scripts', 'build-image.mjs'), ...image, '--fast', '--out', join(dir, 'braid.oci.tar')],
      {
        timeoutMs: 120_000,
      },
    );
  }, 130_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get archive() {
      if (!dir) throw new Error('the image is not built yet: use it from tests and hooks only');
      return join(dir, 'braid.oci.tar');
    },
    get chroot() {
      return chrootHelperBinary();
    },
  };
}
