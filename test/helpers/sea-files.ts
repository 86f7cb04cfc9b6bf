import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCommand, type CommandResult } from './exec.ts';
import { makeTempDir } from './tmp.ts';

/**
 * What the single-executable suites check around a run of braid's single executable: the files it
 * leaves under its BRAID_ASSET_DIR, a run from far from the repo, and a temp root standing for a
 * host it installs into.
 */

/** The names in `dir`, sorted; none when it does not exist. */
export const entries = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);
/** A fresh BRAID_ASSET_DIR (mkdtemp: 0700 and ours, as src/base/sea-assets.ts demands). */
export const assetDir = () => makeTempDir('braid-t-assets');
/** The extracted bundled files: one assets-<build id> directory per build. */
export const assetDirs = (dir: string): string[] => entries(dir).filter((f) => f.startsWith('assets-'));
/** The plugin calls' code caches (scripts/sea-main.cjs): <dir>/code-cache-<build id>/<command>-<verb>.bin. */
export const codeCacheDirs = (dir: string): string[] => entries(dir).filter((f) => f.startsWith('code-cache-'));
export const codeCaches = (dir: string): string[] => codeCacheDirs(dir).flatMap((d) => entries(join(dir, d)));

/** Runs `file` with exactly `env` (no PATH unless given), from a directory far from the repo. */
export const runSea = (file: string, args: string[], env: Record<string, string>, input = ''): Promise<CommandResult> =>
  runCommand([file, ...args], { env, input, cwd: '/', timeoutMs: 30_000 });

export async function expectVersion(file: string, assets: string): Promise<void> {
  const r = await runSea(file, [], { CNI_COMMAND: 'VERSION', BRAID_ASSET_DIR: assets }, '{"cniVersion":"1.0.0"}');
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(
    expect.objectContaining({ supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']) }),
  );
}

/** Without CNI_COMMAND each name is its own command: braid's CLI, braid-veth's CNI error. */
export async function expectMultiCall(dir: string, assets: string): Promise<void> {
  const env = { BRAID_ASSET_DIR: assets };
  expect((await runSea(join(dir, 'braid'), ['--help'], env)).stdout).toMatch(/^Usage: braid \[options\] \[command\]/);
  const veth = await runSea(join(dir, 'braid-veth'), ['--help'], env);
  expect(veth.code).toBe(1);
  expect(JSON.parse(veth.stdout)).toEqual(
    expect.objectContaining({ code: 4, msg: expect.stringMatching(/CNI_COMMAND/) }),
  );
}

/** A temp root standing for the host: an empty CNI bin dir and a primary network's conf. */
export function hostRoot(): { root: string; binDir: string; confDir: string } {
  const root = makeTempDir('braid-t-sea-host');
  const h = { root, binDir: join(root, 'opt', 'cni', 'bin'), confDir: join(root, 'etc', 'cni', 'net.d') };
  mkdirSync(h.binDir, { recursive: true });
  mkdirSync(h.confDir, { recursive: true });
  writeFileSync(
    join(h.confDir, '10-cluster.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'cluster', plugins: [{ type: 'bridge' }] }),
  );
  return h;
}

/**
 * `braid install`, run from the host layout `seaHostDir` (the front door, which execs the single
 * executable as braid-node), once (no --watch, no kubeconfig), found through PATH as the
 * DaemonSet's command line would name it; the binaries to install are the ones beside it (no
 * --bin-source).
 */
export function installBySea(
  seaHostDir: string,
  h: { binDir: string; confDir: string },
  assets: string,
): Promise<CommandResult> {
  const args = ['install', '--bin-dir', h.binDir, '--conf-dir', h.confDir, '--host-conf-dir', h.confDir];
  return runSea('braid', [...args, '--no-kubeconfig', '--primary-timeout', '10'], {
    PATH: `${seaHostDir}:${process.env.PATH ?? ''}`,
    BRAID_ASSET_DIR: assets,
  });
}
