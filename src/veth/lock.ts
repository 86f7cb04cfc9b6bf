import { withFileLock } from '../net/file-lock.ts';

/**
 * Runs `fn` holding the lock of braid-veth's state directory, so that concurrent plugin runs do
 * not both load and pin the datapath (libbpf fails the second pin of a map with EEXIST).
 */
export function withStateLock<T>(stateDir: string, fn: () => T): T {
  return withFileLock(stateDir, fn);
}
