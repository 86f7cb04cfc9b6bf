import fs from 'node:fs';
import path from 'node:path';

/**
 * Backups of braid's log file, named as lumberjack (Multus' logger) names them:
 * `<name>-<UTC 2006-01-02T15-04-05.000><ext>`, e.g. braid-2026-11-22T01-02-03.004.log, with
 * `-<n>` before the extension when two rotations fall in the same millisecond, and `.gz` once
 * compressed. Everything here runs only when the log file rotates, never per line.
 */

/** What to do with backups; see LogOptions for the user-facing form. */
export interface BackupPolicy {
  /** Backups kept, newest first; 0 keeps them all. */
  maxBackups: number;
  /** Age (by the time in the name) past which a backup is removed; 0 keeps any age. */
  maxAgeMs: number;
  compress: boolean;
  /**
   * Backups younger than this stay plain. A process that opened the log file just before another
   * renamed it may still append its line to the backup; compressing (and removing) the plain file
   * at once could lose that line, and without a lock the only safe bound is time.
   */
  settleMs: number;
}

export interface Backup {
  /** Rotation time, from the name. */
  time: number;
  /** Tiebreak within one millisecond (0 when the name has none). */
  tiebreak: number;
  /** Path of the uncompressed backup, when it exists. */
  plain?: string;
  /** Path of the compressed backup, when it exists. */
  gzipped?: string;
}

const MAX_TIEBREAK = 10_000;
const STALE_TEMP_MS = 60_000;

function splitName(file: string): { dir: string; prefix: string; ext: string } {
  const base = path.basename(file);
  const ext = path.extname(base);
  return { dir: path.dirname(file), prefix: `${base.slice(0, base.length - ext.length)}-`, ext };
}

function timestamp(at: Date): string {
  return at.toISOString().replace(/:/g, '-').replace(/Z$/, '');
}

/** The backup path for a rotation at `at`; `tiebreak` > 0 adds `-<tiebreak>`. */
export function backupPath(file: string, at: Date, tiebreak = 0): string {
  const { dir, prefix, ext } = splitName(file);
  return path.join(dir, `${prefix}${timestamp(at)}${tiebreak > 0 ? `-${tiebreak}` : ''}${ext}`);
}

/**
 * Creates an empty file under a backup name nobody else holds (O_EXCL), so that the rename
 * that follows can never replace another process's backup: rename(2) silently overwrites.
 */
export function claimBackupPath(file: string, at: Date): string {
  for (let tiebreak = 0; tiebreak < MAX_TIEBREAK; tiebreak++) {
    const candidate = backupPath(file, at, tiebreak);
    try {
      fs.closeSync(fs.openSync(candidate, 'wx'));
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`no free backup name for ${file} at ${timestamp(at)}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The log file's backups, newest first. */
export function listBackups(file: string): Backup[] {
  const { dir, prefix, ext } = splitName(file);
  const pattern = new RegExp(
    `^${escapeRegExp(prefix)}(\\d{4})-(\\d\\d)-(\\d\\d)T(\\d\\d)-(\\d\\d)-(\\d\\d)\\.(\\d{3})(?:-(\\d+))?${escapeRegExp(ext)}(\\.gz)?$`,
  );
  const byStem = new Map<string, Backup>();
  for (const name of fs.readdirSync(dir)) {
    const m = pattern.exec(name);
    if (!m) continue;
    const [, y, mo, d, h, mi, s, ms, tiebreak, gz] = m;
    const time = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!, +ms!);
    const stem = gz ? name.slice(0, -gz.length) : name;
    const backup = byStem.get(stem) ?? { time, tiebreak: tiebreak ? +tiebreak : 0 };
    if (gz) backup.gzipped = path.join(dir, name);
    else backup.plain = path.join(dir, name);
    byStem.set(stem, backup);
  }
  return [...byStem.values()].sort((a, b) => b.time - a.time || b.tiebreak - a.tiebreak);
}

function removeQuietly(file: string | undefined): void {
  if (file === undefined) return;
  try {
    fs.unlinkSync(file);
  } catch {
    // Already removed by another process's pruning: the outcome is the same.
  }
}

/**
 * Replaces a settled plain backup by `<backup>.gz`. The archive is written under a private
 * name and renamed into place, so a reader never sees half an archive; when two processes
 * compress the same backup both produce the same bytes and the second rename is harmless.
 */
export function compressBackup(plain: string): void {
  let fd: number;
  try {
    fd = fs.openSync(plain, 'r');
  } catch {
    return; // another process compressed or pruned it
  }
  const temp = `${plain}.gz.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const mode = fs.fstatSync(fd).mode & 0o777;
    // Loaded here rather than at start-up: only a rotation with compress needs it.
    const zlib = process.getBuiltinModule('node:zlib');
    fs.writeFileSync(temp, zlib.gzipSync(fs.readFileSync(fd)), { mode, flag: 'wx' });
    fs.renameSync(temp, `${plain}.gz`);
    removeQuietly(plain);
  } catch {
    removeQuietly(temp);
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes the partial archives a crashed compression left behind (its plain backup is still there). */
function removeStaleTemps(file: string, now: number): void {
  const { dir, prefix } = splitName(file);
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(prefix) || !/\.gz\.tmp-\d+-\w+$/.test(name)) continue;
    const temp = path.join(dir, name);
    try {
      if (now - fs.statSync(temp).mtimeMs > STALE_TEMP_MS) fs.unlinkSync(temp);
    } catch {
      // Renamed or removed meanwhile.
    }
  }
}

/**
 * lumberjack's clean-up after a rotation: remove backups beyond `maxBackups` (oldest first) or
 * older than `maxAgeMs`, then compress the remaining plain ones that have settled. Each step is
 * best-effort: a backup another process removes or compresses meanwhile is simply skipped.
 */
export function tidyBackups(file: string, policy: BackupPolicy, now: number): void {
  if (policy.maxBackups === 0 && policy.maxAgeMs === 0 && !policy.compress) return;
  const backups = listBackups(file);
  backups.forEach((backup, index) => {
    const tooMany = policy.maxBackups > 0 && index >= policy.maxBackups;
    const tooOld = policy.maxAgeMs > 0 && now - backup.time > policy.maxAgeMs;
    if (tooMany || tooOld) {
      removeQuietly(backup.plain);
      removeQuietly(backup.gzipped);
    } else if (policy.compress && backup.plain !== undefined && now - backup.time >= policy.settleMs) {
      compressBackup(backup.plain);
    }
  });
  if (policy.compress) removeStaleTemps(file, now);
}
