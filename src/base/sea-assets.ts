import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAsset, getRawAsset, isSea } from 'node:sea';
import { CniCode, CniError } from './errors.ts';
import { PATHS } from './defaults.ts';

/**
 * Files a single executable carries (the BPF objects, the PodResources .proto, koffi's native
 * addon) are needed as real files: libbpf, proto-loader and dlopen() only take paths. They are
 * written once per build into `<root>/assets-<build id>/` and reused by every later process; a
 * call that needs none of them (VERSION, a hand-over to the agent) writes nothing.
 *
 * The root is /run/braid (tmpfs: a reboot clears it, so an old build's files do not pile up) or
 * $BRAID_ASSET_DIR. The files are loaded as code by a root process, so a directory someone else
 * could write to is refused rather than used.
 */
export const ASSET_DIR_ENV = 'BRAID_ASSET_DIR';
const DEFAULT_ASSET_ROOT = PATHS.assetRoot;
/** Written by scripts/build-sea.mjs: `{ "buildId": "<hash of every asset>", "files": ["veth.o", ...] }`. */
export const ASSET_MANIFEST = 'manifest.json';
const COMPLETE_MARK = '.complete';

interface AssetManifest {
  buildId: string;
  files: string[];
}

let extracted: string | undefined;

/** The path of a file the single executable carries; undefined when not running as one. */
export function bundledAsset(name: string): string | undefined {
  if (!isSea()) return undefined;
  extracted ??= extractAssets();
  const path = join(extracted, name);
  return existsSync(path) ? path : undefined;
}

function extractAssets(): string {
  const manifest = JSON.parse(getAsset(ASSET_MANIFEST, 'utf8')) as AssetManifest;
  const root = process.env[ASSET_DIR_ENV] || DEFAULT_ASSET_ROOT;
  const dir = join(root, `assets-${manifest.buildId}`);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  refuseForeignDirectory(root);
  if (existsSync(join(dir, COMPLETE_MARK))) {
    refuseForeignDirectory(dir);
    return dir;
  }
  // Written beside the final name and renamed into place, so a concurrent process sees all or nothing.
  const staging = mkdtempSync(join(root, '.assets-'));
  try {
    for (const file of manifest.files)
      writeFileSync(join(staging, file), new Uint8Array(getRawAsset(file)), { mode: 0o600 });
    writeFileSync(join(staging, COMPLETE_MARK), '');
    renameSync(staging, dir);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    // Another process finished the same build's directory first: use theirs.
    if (existsSync(join(dir, COMPLETE_MARK))) return dir;
    throw new CniError(
      CniCode.IoFailure,
      `cannot write braid's bundled files to ${dir}: ${(e as Error).message}; set ${ASSET_DIR_ENV} to a writable directory`,
    );
  }
  return dir;
}

function refuseForeignDirectory(dir: string): void {
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new CniError(
      CniCode.IoFailure,
      `${dir} must be a directory owned by uid ${uid} and writable by nobody else (braid loads code from it); remove it or set ${ASSET_DIR_ENV}`,
    );
  }
}
