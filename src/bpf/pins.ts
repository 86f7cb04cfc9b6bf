import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { SyscallError } from '../net/errno.ts';
import { errnoFromResult, libbpf } from './libbpf.ts';

const BPF_FS_MAGIC = 0xcafe4a11;

export function isBpffs(path: string): boolean {
  try {
    return Number(statfsSync(path).type) === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Creates `dir` (and parents) inside a mounted bpffs. Fails with a message that says what to
 * mount when the nearest existing ancestor is not a bpffs: pins outside one are impossible.
 */
export function ensurePinDir(dir: string): void {
  if (existsSync(dir)) {
    if (!isBpffs(dir)) throw notBpffs(dir);
    return;
  }
  let base = dirname(dir);
  while (!existsSync(base)) base = dirname(base);
  if (!isBpffs(base)) throw notBpffs(base);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function notBpffs(path: string): CniError {
  return new CniError(
    CniCode.IoFailure,
    `${path} is not on a bpffs: mount one (mount -t bpf bpf /sys/fs/bpf) or set bpfRoot to a directory inside one`,
  );
}

export function pinFd(fd: number, path: string): void {
  ensurePinDir(dirname(path));
  const rc = libbpf().bpf_obj_pin(fd, path);
  if (rc < 0) throw new SyscallError(`pin fd to ${path}`, errnoFromResult(rc));
}

/** An fd for the object pinned at `path` (caller closes it); throws SyscallError ENOENT if none. */
export function openPinned(path: string): number {
  const fd = libbpf().bpf_obj_get(path);
  if (fd < 0) throw new SyscallError(`open pinned object ${path}`, errnoFromResult(fd));
  return fd;
}

export function tryOpenPinned(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const fd = libbpf().bpf_obj_get(path);
  return fd < 0 ? undefined : fd;
}

/** Removes a pin; false when there was none. The object lives on while other references exist. */
export function unpin(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export function listPins(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes a directory of pins and everything below it (tests, and uninstall). */
export function removePinTree(dir: string): void {
  if (isBpffs(dir)) rmSync(dir, { recursive: true, force: true });
}

export function closeFd(fd: number | undefined): void {
  if (fd !== undefined && fd >= 0) libbpf().close(fd);
}

/** Why pins cannot be made under `dir` (no bpffs there), or undefined when they can. Creates nothing. */
export function pinDirProblem(dir: string): string | undefined {
  let base = dir;
  while (!existsSync(base)) base = dirname(base);
  return isBpffs(base) ? undefined : notBpffs(base).message;
}
