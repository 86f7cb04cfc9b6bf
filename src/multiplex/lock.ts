import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * A per-container lock: an exclusive lock on `<cniDir>/locks/<containerId>.lock`. The directory
 * is root's and nobody else's (checked on every take), so no other user can hold, squat or
 * replace a lock (an abstract socket name, braid's lock before, could be bound by any local
 * process). The lock itself is a POSIX record lock (fcntl) taken through Node's built-in SQLite:
 * `BEGIN EXCLUSIVE` on an empty file that is never written, with the journal in memory. The
 * kernel releases it when the process exits, however that ends; SQLite keeps several connections
 * of one process (braid-agent's concurrent calls) apart; it needs no disk space; and it costs
 * about a millisecond with nothing to load or spawn (the native flock binding costs ~30 ms to
 * load, a flock(1) process 3-8 ms). Nothing else in braid opens these files: closing any
 * descriptor of a file drops the process's POSIX locks on it.
 *
 * Where braid's addon loads (native/braid-native.c; braid-agent and thin-mode processes alike), the
 * same lock is an open file description lock instead (fcntl F_OFD_SETLK on the whole file,
 * `OfdLocking`): a few system calls instead of two SQLite opens. OFD locks and SQLite's POSIX record
 * locks conflict with each other (also within one process), so a braid with the addon and one
 * without (an older libc) still exclude each other. Within one process, lock operations on the
 * same file never overlap (an in-process wait comes first), so no close of one caller's
 * descriptor can drop another caller's POSIX lock.
 */
/** fcntl(F_OFD_SETLK, F_WRLCK on the whole file): true when taken, false when another holder has a conflicting lock. */
export interface OfdLocking {
  tryLock(fd: number): boolean;
}

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

/**
 * A directory braid keeps locks or state in must be its own: owned by it, writable by no one
 * else. `followLink` for a configured directory (a root-owned symlink to it is the operator's
 * choice); braid's own subdirectories must be real directories.
 */
export function requirePrivateDir(dir: string, followLink = false): void {
  const st = followLink ? fs.statSync(dir) : fs.lstatSync(dir);
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
  requirePrivateDir(cniDir, true);
  requirePrivateDir(dir);
  return dir;
}

const SQLITE_BUSY = 5;

/** The inode at `file` now, or undefined when there is none. */
function inodeAt(file: string): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** One attempt: the exclusive lock on `file`, or undefined when another holder has it. */
function tryLock(file: string): DatabaseSync | undefined {
  // Loaded at the first SQLite lock: a process that takes OFD locks never loads the module.
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
  const db = new DatabaseSync(file, { timeout: 0 });
  try {
    // An exclusive transaction would open a journal file: on a full disk that fails. A journal in
    // memory needs no space, and nothing is ever written.
    db.exec('PRAGMA journal_mode=MEMORY');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (e) {
    db.close();
    if ((e as { errcode?: number }).errcode === SQLITE_BUSY) return undefined;
    throw new CniError(CniCode.IoFailure, `cannot lock ${file}: ${(e as Error).message}`);
  }
}

/** Lock files some caller of this process holds or is taking (see the top comment). */
const busyHere = new Set<string>();

function busy(containerId: string, file: string, timeoutMs: number): CniError {
  return new CniError(
    CniCode.TryAgainLater,
    `container ${containerId} is locked (${file}) by another braid call that has run for more than ${timeoutMs} ms`,
  );
}

/** The OFD variant of one attempt: the descriptor holding the lock on the file at the path now. */
function tryOfdLock(file: string, ofd: OfdLocking): number | undefined {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  let taken = false;
  try {
    taken = ofd.tryLock(fd);
    // A holder's DEL removes the file: a lock on a file no longer at the path is retried.
    const st = fs.fstatSync(fd, { bigint: true });
    if (taken && inodeAt(file) === `${st.dev}:${st.ino}`) return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw new CniError(CniCode.IoFailure, `cannot lock ${file}: ${(e as Error).message}`);
  }
  fs.closeSync(fd);
  return taken ? tryOfdLock(file, ofd) : undefined;
}

/**
 * Waits for the lock of one container; gives up with "try again later" after timeoutMs. With
 * `ofd` (braid-agent), an open file description lock instead of SQLite's.
 */
export async function lockContainer(
  cniDir: string,
  containerId: string,
  timeoutMs: number,
  ofd?: OfdLocking,
): Promise<ContainerLock> {
  prepareDir(cniDir);
  const file = lockFile(cniDir, containerId);
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  const wait = async () => {
    if (Date.now() >= deadline) throw busy(containerId, file, timeoutMs);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  };
  while (busyHere.has(file)) await wait();
  busyHere.add(file);
  try {
    for (;;) {
      const lock = ofd ? ofdAttempt(file, ofd) : sqliteAttempt(file);
      if (lock) return lock;
      await wait();
    }
  } catch (e) {
    busyHere.delete(file);
    throw e;
  }
}

function ofdAttempt(file: string, ofd: OfdLocking): ContainerLock | undefined {
  const fd = tryOfdLock(file, ofd);
  if (fd === undefined) return undefined;
  return released(file, () => fs.closeSync(fd));
}

function sqliteAttempt(file: string): ContainerLock | undefined {
  for (;;) {
    // Identity before opening: a holder's DEL removes the file, so a lock taken on a file that is
    // no longer (or not yet known to be) the one at the path is retried on the current one.
    const before = inodeAt(file);
    const db = tryLock(file);
    if (!db) return undefined;
    if (before !== undefined && inodeAt(file) === before) return released(file, () => db.close());
    db.close();
  }
}

/** A held lock: `unlock` drops it; the in-process mark goes with it. */
function released(file: string, unlock: () => void): ContainerLock {
  let open = true;
  return {
    release: async (opts = {}) => {
      if (!open) return;
      open = false;
      try {
        if (opts.remove) fs.rmSync(file, { force: true });
      } finally {
        unlock();
        busyHere.delete(file);
      }
    },
  };
}
