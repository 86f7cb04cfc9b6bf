import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { SyscallError } from './errno.ts';
import { LOCK_EX, LOCK_UN, libc } from './libc.ts';

/**
 * Runs `fn` holding an exclusive flock on `<dir>/lock`: for state that plugin processes and the
 * agent share (pinned datapaths, the policy registry). The kernel drops the lock with the process,
 * so a killed holder never leaves it stale. Synchronous on purpose: the work inside (libbpf,
 * netlink) is synchronous too.
 */
export function withFileLock<T>(dir: string, fn: () => T): T {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'lock');
  const fd = openSync(path, 'a', 0o600);
  try {
    if (libc().flock(fd, LOCK_EX) !== 0) throw new SyscallError(`lock ${path}`, libc().errno());
    try {
      return fn();
    } finally {
      libc().flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}
