import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { mustRun } from './exec.ts';

/**
 * braid's single executable (scripts/build-sea.mjs) built from the current sources into a temp
 * dir: `braid`, with `braid-veth` and `braid-agent` as hard links; and beside them `host/`, the
 * layout a node gets (the native front door `braid`, the single executable as `braid-node` and
 * `braid-veth`). The BPF objects it carries are the ones in dist/bpf (the build script refuses to
 * run without them).
 */

export type SeaCommand = 'braid' | 'braid-veth' | 'braid-agent';

const repoRoot = resolve(import.meta.dirname, '../..');
const nodeBinary = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
/** Bundling, the blob and postject take about a minute; the margin is for a loaded machine. */
const BUILD_TIMEOUT_MS = 170_000;

/** Builds the single executable into `dir` (its intermediate files go to `<dir>/.build`). */
export async function buildSeaInto(dir: string): Promise<void> {
  await mustRun(
    [nodeBinary, join(repoRoot, 'scripts', 'build-sea.mjs'), '--out-dir', dir, '--host-dir', join(dir, 'host')],
    { timeoutMs: BUILD_TIMEOUT_MS },
  );
}

export interface Sea {
  /** The directory holding the three names; set once the suite's beforeAll has run. */
  readonly dir: string;
  /** The executable under one of its names. */
  path(name: SeaCommand): string;
  /** A file of the host layout: `braid` (the front door), `braid-node` or `braid-veth`. */
  host(name: 'braid' | 'braid-node' | 'braid-veth' | 'braid-launch'): string;
}

/**
 * Builds the single executable once for the calling suite (beforeAll, into a fresh temp dir) and
 * removes it after the suite (afterAll), also when a test or the build failed. Call it at the top
 * of a test file or inside a describe; read `dir` and `path()` only from tests and hooks.
 */
export function useSea(): Sea {
  let dir: string | undefined;
  const built = (): string => {
    if (dir === undefined) throw new Error('the single executable is not built yet: use it from tests and hooks only');
    return dir;
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'braid-t-sea-'));
    await buildSeaInto(dir);
  }, BUILD_TIMEOUT_MS + 10_000);
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    get dir() {
      return built();
    },
    path: (name) => join(built(), name),
    host: (name) => join(built(), 'host', name),
  };
}
