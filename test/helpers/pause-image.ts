import { writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: a plain .mjs build script without types
import { ociArchive } from '../../scripts/image/oci.mjs';
// @ts-expect-error: a plain .mjs build script without types
import { TarWriter } from '../../scripts/image/tar.mjs';
import { mustRun } from './exec.ts';

/**
 * A sandbox ("pause") image built here, offline: a static C program that sleeps until SIGTERM or
 * SIGINT, packed by braid's own image writer (scripts/image/) as an OCI archive for
 * `ctr images import`. No registry is contacted.
 */
const PAUSE_C = `#include <signal.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGTERM, stop); signal(SIGINT, stop); for (;;) pause(); }
`;

export async function buildPauseImage(dir: string, name: string): Promise<string> {
  writeFileSync(join(dir, 'pause.c'), PAUSE_C);
  await mustRun(['clang', '-static', '-Os', '-s', '-o', join(dir, 'pause'), join(dir, 'pause.c')]);
  const layer = new TarWriter(0);
  layer.file('pause', readFileSync(join(dir, 'pause')), 0o755);
  const { archive } = ociArchive({
    layerTar: layer.toBuffer(),
    name,
    created: new Date(0),
    mtime: 0,
    config: { Entrypoint: ['/pause'] },
  });
  const file = join(dir, 'pause.oci.tar');
  writeFileSync(file, archive);
  return file;
}
