import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * A per-container lock: an exclusive flock on `<cniDir>/locks/<containerId>.lock`. The kernel
 * releases it with the process however that ends, so a killed braid never leaves it held; the
 * directory is root's and nobody else's (checked on every take), so no other user can hold,
 * squat or replace a lock (an abstract socket name, braid's lock before, could be bound by any
 * local process). A plugin process takes the flock through util-linux `flock(1)` on an inherited
 * descriptor (~3 ms; loading the native binding would cost ~30 ms); braid-agent, which has the
 * binding loaded anyway, calls flock(2) itself.
 */
export interface ContainerLock {
  /** Releases the lock; with `remove`, deletes the lock file first (DEL: the container is gone). */
  release(opts?: { remove?: boolean }): Promise<void>;
}

export function locksDir(cniDir: string): string {
  return path.join(cniDir, 'locks');
}

export function lockFile(cniDir: string, containerId: string): string {
  return path.join(locksDir(cniDir), `${containerId}.lock`);
}

/** A directory braid keeps locks or state in must be its own: owned by it, writable by no one else. */
export function requirePrivateDir(dir: string): void {
  const st = fs.lstatSync(dir);
  const euid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) {
    throw new CniError(
      CniCode.IoFailure,
      `${dir} must be a directory owned by uid ${euid} that group and others cannot write ` +
        `(it is ${st.isDirectory() ? 'a directory' : 'not a directory'} of uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}); ` +
        'braid keeps its locks and state only where no other user can replace them',
    );
  }
}

function prepareDir(cniDir: string): string {
  const dir = locksDir(cniDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  requirePrivateDir(cniDir);
  requirePrivateDir(dir);
  return dir;
}

const FLOCK_BUSY = 75;

/** flock(1) on descriptor 3: true when locked, false when `waitMs` passed first. */
function flockByCommand(fd: number, waitMs: number): Promise<boolean | 'absent'> {
  return new Promise((resolve, reject) => {
    const wait = waitMs > 0 ? ['-w', (waitMs / 1000).toFixed(3)] : ['-n'];
    const child = spawn('flock', ['-x', '-E', String(FLOCK_BUSY), ...wait, '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    const err: Buffer[] = [];
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve('absent') : reject(e)));
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === FLOCK_BUSY) resolve(false);
      else reject(new CniError(CniCode.IoFailure, `flock(1) failed (exit ${code}): ${Buffer.concat(err).toString().trim()}`));
    });
  });
}

/** flock(2) through the native binding, polled without blocking the event loop. */
async function flockBySyscall(fd: number, waitMs: number): Promise<boolean> {
  const { libc, LOCK_EX } = await import('../net/libc.ts');
  const LOCK_NB = 4;
  const deadline = Date.now() + waitMs;
  let delay = 2;
  for (;;) {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * How a lock is taken: `command` (flock(1), for a plugin process that has not loaded the native
 * binding) or `syscall` (flock(2), for braid-agent, which has).
 */
export type FlockWay = 'command' | 'syscall';

async function takeFlock(fd: number, waitMs: number, way: FlockWay): Promise<boolean> {
  if (way === 'command') {
    const byCommand = await flockByCommand(fd, waitMs);
    if (byCommand !== 'absent') return byCommand;
  }
  return flockBySyscall(fd, waitMs);
}

function sameFile(fd: number, file: string): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.lstatSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/** Waits for the lock of one container; gives up with "try again later" after timeoutMs. */
export async function lockContainer(
  cniDir: string,
  containerId: string,
  timeoutMs: number,
  way: FlockWay = 'command',
): Promise<ContainerLock> {
  prepareDir(cniDir);
  const file = lockFile(cniDir, containerId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    let locked = false;
    try {
      locked = await takeFlock(fd, deadline - Date.now(), way);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (!locked) {
      fs.closeSync(fd);
      throw new CniError(
        CniCode.TryAgainLater,
        `container ${containerId} is locked (${file}) by another braid call that has run for more than ${timeoutMs} ms`,
      );
    }
    // The previous holder may have removed the file (its DEL) while this call waited on it.
    if (sameFile(fd, file)) return heldLock(fd, file);
    fs.closeSync(fd);
  }
}

function heldLock(fd: number, file: string): ContainerLock {
  let open = true;
  return {
    release: async (opts = {}) => {
      if (!open) return;
      open = false;
      if (opts.remove) fs.rmSync(file, { force: true });
      fs.closeSync(fd);
    },
  };
}
