import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CniCode, CniError } from '../../base/errors.ts';

/**
 * Copies braid's binaries into the host's CNI bin directory the only safe way: into a temporary
 * file beside the target, flushed, then renamed over it. A runtime that starts the plugin at any
 * moment sees either the old file or the new one, never half a file; and the old binary may be
 * running meanwhile, since its inode is never opened for writing ("text file busy", Multus #1221).
 */
export interface InstalledBinary {
  name: string;
  path: string;
  /** False when the target already had the same content (nothing was written). */
  changed: boolean;
}

const CHUNK = 1 << 20;

/**
 * SHA-256 of a file read in 1 MiB pieces: the single executable is ~130 MiB, and the DaemonSet's
 * init container runs with a 128 MiB memory limit, which reading it whole would exceed.
 */
function digest(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf, 0, CHUNK, null); n > 0; n = readSync(fd, buf, 0, CHUNK, null))
      hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Replaces `target` with a copy of `source` atomically; a target with the same bytes is left alone. */
export function copyFileAtomic(source: string, target: string, mode = 0o755): boolean {
  const wanted = digest(source);
  if (wanted === undefined)
    throw new CniError(CniCode.IoFailure, `cannot install ${basename(target)}: ${source} does not exist`);
  if (digest(target) === wanted) {
    chmodSync(target, mode);
    return false;
  }
  const temp = join(dirname(target), `.${basename(target)}.braid-new-${process.pid}`);
  try {
    copyFileSync(source, temp);
    chmodSync(temp, mode);
    const fd = openSync(temp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new CniError(CniCode.IoFailure, `cannot install ${target}: ${(e as Error).message}`);
  }
  return true;
}

/**
 * Gives `target` the inode of `installed` (a hard link), atomically: braid's single executable is
 * one multi-call file under several names, and a copy per name would cost the host ~130 MiB each.
 */
function linkFileAtomic(installed: string, target: string): boolean {
  if (existsSync(target) && statSync(target).ino === statSync(installed).ino) return false;
  const temp = join(dirname(target), `.${basename(target)}.braid-new-${process.pid}`);
  try {
    rmSync(temp, { force: true });
    linkSync(installed, temp);
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new CniError(CniCode.IoFailure, `cannot install ${target}: ${(e as Error).message}`);
  }
  return true;
}

/**
 * Installs each of `names` from `sourceDir` into `binDir`. Sources that are hard links of one file
 * (the multi-call single executable) are installed as hard links of one copy.
 */
export function installBinaries(sourceDir: string, names: readonly string[], binDir: string): InstalledBinary[] {
  if (!existsSync(binDir))
    throw new CniError(
      CniCode.IoFailure,
      `CNI bin directory ${binDir} does not exist; mount the host's /opt/cni/bin there`,
    );
  const installedBySource = new Map<string, string>();
  return names.map((name) => {
    const source = join(sourceDir, name);
    const path = join(binDir, name);
    const sourceId = existsSync(source) ? `${statSync(source).dev}:${statSync(source).ino}` : undefined;
    const sibling = sourceId === undefined ? undefined : installedBySource.get(sourceId);
    const changed = sibling ? linkFileAtomic(sibling, path) : copyFileAtomic(source, path);
    if (sourceId !== undefined && !sibling) installedBySource.set(sourceId, path);
    return { name, path, changed };
  });
}
