import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

// The braid binary the black-box suites run (braid-fixture.ts re-exports these).

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const isRoot = process.getuid?.() === 0;

/** Why these suites cannot run here; undefined when they can. */
export function braidUnavailable(): string | undefined {
  if (!isRoot) return 'needs root';
  if (process.env.BRAID_BIN && !existsSync(process.env.BRAID_BIN))
    return `BRAID_BIN ${process.env.BRAID_BIN} is missing`;
  return undefined;
}

let privateBuild: string | undefined;

/**
 * The braid binary under test, as a runtime runs it: the native front door of a host layout
 * (`host/braid`, with the Node implementation `host/braid-node` beside it). $BRAID_BIN when set
 * (e.g. dist/host/braid of a finished build), otherwise a private build made once per test file by
 * scripts/build.mjs (what `npm run build` makes, without the BPF objects) into a temp dir. A private build always
 * matches the sources, and a concurrent `npm run build` cannot swap chunks under a running test.
 * Call it from beforeAll (the build takes a second or two); the build is removed after the file
 * by the afterAll this module registers (removeBraidBinary() does it earlier).
 */
export function braidBinary(): string {
  if (process.env.BRAID_BIN) return process.env.BRAID_BIN;
  if (!privateBuild) {
    const out = mkdtempSync(join(tmpdir(), 'braid-t-bin-'));
    const node = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
    execFileSync(node, [join(repoRoot, 'scripts', 'build.mjs'), '--out-dir', out, '--skip-bpf'], { stdio: 'pipe' });
    privateBuild = out;
  }
  return join(privateBuild, 'host', 'braid');
}

/** braid-chroot of the same build (dist/bin/braid-chroot beside a dist/host/braid). */
export function chrootHelperBinary(): string {
  return join(dirname(dirname(braidBinary())), 'bin', 'braid-chroot');
}

export function removeBraidBinary(): void {
  if (privateBuild) rmSync(privateBuild, { recursive: true, force: true });
  privateBuild = undefined;
}

// Registered on the importing test file's root suite, so that a file that never calls
// removeBraidBinary() does not leave its build behind (test workers are killed, not exited).
afterAll(() => removeBraidBinary());
