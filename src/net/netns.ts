import { closeSync, existsSync, openSync, statfsSync } from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';
import { SyscallError } from './errno.ts';
import { CLONE_NEWNET, libc } from './libc.ts';

/** statfs magic of nsfs, the filesystem behind /proc/<pid>/ns/* and `ip netns` bind mounts. */
const NSFS_MAGIC = 0x6e736673;
const OWN_NETNS = '/proc/thread-self/ns/net';

/** True when `path` names a network namespace (an nsfs file). */
export function isNetnsPath(path: string): boolean {
  if (!path || !existsSync(path)) return false;
  try {
    return Number(statfsSync(path).type) === NSFS_MAGIC;
  } catch {
    return false;
  }
}

function enter(fd: number, what: string): void {
  if (libc().setns(fd, CLONE_NEWNET) !== 0) throw new SyscallError(what, libc().errno());
}

/**
 * Runs `fn` with the calling thread in the network namespace at `nsPath`, then switches back,
 * also when `fn` throws. `fn` must be synchronous: setns affects only the main thread, and any
 * await would let other code run in the pod's namespace. Netlink sockets and sockets opened
 * inside `fn` stay bound to the pod's namespace after it returns.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const home = openSync(OWN_NETNS, 'r');
  let target: number;
  try {
    target = openSync(nsPath, 'r');
  } catch (e) {
    closeSync(home);
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new CniError(CniCode.InvalidNetns, `open network namespace ${nsPath}: ${code}`);
  }
  try {
    enter(target, `enter network namespace ${nsPath}`);
    let result: T;
    try {
      result = fn();
    } finally {
      // A failure here would leave the process in the pod's namespace: nothing sensible can
      // continue, so stop instead of acting on the wrong namespace.
      if (libc().setns(home, CLONE_NEWNET) !== 0) {
        process.stderr.write(`braid: cannot return from network namespace ${nsPath}, aborting\n`);
        process.abort();
      }
    }
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new Error('withNetns: the callback must be synchronous (it returned a Promise)');
    }
    return result;
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
