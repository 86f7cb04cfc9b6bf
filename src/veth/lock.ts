import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { SyscallError } from '../net/errno.ts';
import { LOCK_EX, LOCK_UN, libc } from '../net/libc.ts';

/**
 * Runs `fn` holding an exclusive flock on `<stateDir>/lock`, so that concurrent plugin runs do
 * not both load and pin the datapath (libbpf fails the second pin of a map with EEXIST).
 */
export function withStateLock<T>(stateDir: string, fn: () => T): T {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'lock');
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
