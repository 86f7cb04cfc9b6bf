import fs from 'node:fs';
import path from 'node:path';
import { CniCode, CniError } from './errors.ts';

/**
 * Shared by every layer that keeps state on disk (caches, stores), hence its place at the bottom.
 * Writes a file so that a reader sees either the old or the new content, never a torn one:
 * temp file in the same directory, every byte written (a nearly full disk returns short writes
 * instead of failing), then rename. With `durable`, the data is flushed before the rename and the
 * directory after it, so that the new content also survives a power loss (a per-pod ADD pays
 * ~8 ms for that once, on its finished record). Any failure removes the temp file and throws a
 * CniError with code 5 naming the path; nothing half-written stays behind.
 */
export function writeFileAtomic(file: string, data: string | Buffer, opts: { durable: boolean; mode?: number }): void {
  const dir = path.dirname(file);
  const tmp = `${file}${TMP_MARK}${process.pid}`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = fs.openSync(tmp, 'w', opts.mode ?? 0o600);
    try {
      writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (opts.durable) fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    if (opts.durable) syncDir(dir);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Never created (its directory is missing or not one).
    }
    throw writeError(file, e);
  }
}

/** What every temp file's name carries between the target's name and the writer's pid. */
export const TMP_MARK = '.tmp-';

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    const n = fs.writeSync(fd, buf, off, buf.length - off);
    // A zero count would loop forever; the kernel reports a full disk as ENOSPC on the next try.
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    off += n;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Code 5 (I/O failure) naming the file and the errno, e.g. ENOSPC. */
export function writeError(file: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device (ENOSPC)' : (err.code ?? err.message);
  return new CniError(CniCode.IoFailure, `cannot write ${file}: ${why}`);
}

/** How old a temp file of a live process must be before it counts as abandoned. */
export const STALE_TMP_MS = 10 * 60_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp files that no writer will ever rename: their pid is dead (a writer killed
 * mid-write), or they are older than STALE_TMP_MS (the pid was reused). Returns what it removed.
 */
export function collectStaleTempFiles(dir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const at = name.lastIndexOf(TMP_MARK);
    if (at < 0) continue;
    const pid = Number(name.slice(at + TMP_MARK.length));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const file = path.join(dir, name);
    try {
      const old = now - fs.lstatSync(file).mtimeMs > STALE_TMP_MS;
      if (pid !== process.pid && (old || !pidAlive(pid))) {
        fs.rmSync(file, { force: true });
        removed.push(file);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return removed;
}
