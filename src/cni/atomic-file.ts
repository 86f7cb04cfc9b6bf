import fs from 'node:fs';
import path from 'node:path';

/**
 * Shared by every layer that keeps state on disk (caches, stores), hence its place at the bottom.
 * Writes a file so that a reader sees either the old or the new content, never a torn one:
 * temp file in the same directory, then rename. With `durable`, the data is flushed to disk
 * before the rename, so that the new content also survives a power loss (fdatasync: on this
 * kind of VM a full fsync costs ~8 ms, fdatasync ~7 ms, the directory fsync another ~1.5 ms,
 * which a per-pod ADD pays every time; the directory is not synced, so after a power loss the
 * previous version may come back, which DEL handles like a missing record).
 */
export function writeFileAtomic(file: string, data: string, opts: { durable: boolean; mode?: number }): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', opts.mode ?? 0o600);
  try {
    fs.writeSync(fd, data);
    if (opts.durable) fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
