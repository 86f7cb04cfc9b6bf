import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const temps = new Set<string>();

/** A fresh directory under the system temp dir, removed by the next cleanupTemps(). */
export function makeTempDir(prefix = 'braid-t'): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  temps.add(dir);
  return dir;
}

/** Removes every directory makeTempDir() made; call it from afterEach/afterAll. */
export function cleanupTemps(): void {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  temps.clear();
}
