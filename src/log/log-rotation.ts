import fs from 'node:fs';
import type { LogOptions } from '../config/types.ts';
import { claimBackupPath, tidyBackups, type BackupPolicy } from './log-backups.ts';

/**
 * Size-bounded appends to a log file that many braid processes (one per CNI call, and
 * braid-agent) write at once, with no lock: koffi's flock would cost more start-up time than
 * the whole call. Each line is one write(2) on an O_APPEND descriptor, so lines interleave but
 * never split; a rotation only ever renames the file its process measured, onto a name it
 * created exclusively, so racing rotations neither lose nor overwrite anything.
 */

export interface RotationPolicy extends BackupPolicy {
  /** Bytes a line may not take the file past (a line alone in an empty file always goes in). */
  maxBytes: number;
}

const MEGABYTE = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * Far longer than a writer holds the file between open and write (microseconds), far shorter
 * than the time it takes braid to log `maxSize` megabytes.
 */
const SETTLE_MS = 10_000;
/** The attempt on which a line goes in whatever the size, so that racing rotations cannot keep a writer looping. */
const ROTATION_ATTEMPTS = 3;

/** lumberjack's units: megabytes of 2^20 bytes, days of 24 hours. */
export function rotationPolicy(options: LogOptions): RotationPolicy {
  return {
    maxBytes: options.maxSize * MEGABYTE,
    maxBackups: options.maxBackups,
    maxAgeMs: options.maxAge * DAY_MS,
    compress: options.compress,
    settleMs: SETTLE_MS,
  };
}

function writeWhole(fd: number, data: Buffer): void {
  // A regular file takes the whole buffer in one write(2); the loop only matters on a full disk.
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset);
}

/** Puts back a file taken by mistake, unless a newer one already took its place: then it stays a backup. */
function giveBack(backup: string, file: string): void {
  try {
    fs.linkSync(backup, file);
    fs.unlinkSync(backup);
  } catch {
    // EEXIST: a writer created a new log file meanwhile; the taken one keeps its lines as a backup.
  }
}

/**
 * Moves the measured file aside. True when the path no longer names the measured file (this or
 * another process rotated it), so the line belongs in a fresh file; false when rotating failed
 * and the line should go where it is rather than nowhere.
 */
function rotate(file: string, measured: fs.Stats, policy: RotationPolicy): boolean {
  const isMeasured = (s: fs.Stats) => s.ino === measured.ino && s.dev === measured.dev;
  try {
    const current = fs.statSync(file, { throwIfNoEntry: false });
    if (current === undefined || !isMeasured(current)) return true;
    const now = new Date();
    const backup = claimBackupPath(file, now);
    try {
      fs.renameSync(file, backup);
    } catch (e) {
      fs.unlinkSync(backup);
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
    // Another process may have rotated between the stat and the rename, so the file moved may
    // be its fresh one. The caller's open descriptor keeps the measured inode's number from
    // being reused, so this comparison is sound.
    if (!isMeasured(fs.statSync(backup))) {
      giveBack(backup, file);
      return true;
    }
    try {
      tidyBackups(file, policy, now.getTime());
    } catch {
      // Pruning and compression are retried at the next rotation.
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Appends one line (ending in "\n") to `file`, first turning the file into a backup when the
 * line would take it past `policy.maxBytes`. The file is opened per line: a descriptor kept
 * open would go on writing into a backup once another process rotated. Besides open, write and
 * close, a line costs one fstat; the rest happens only at rotation. Throws only when the file
 * cannot be opened or written.
 */
export function appendLogLine(file: string, line: string, policy: RotationPolicy): void {
  const data = Buffer.from(line);
  for (let attempt = 1; ; attempt++) {
    const fd = fs.openSync(file, 'a');
    try {
      if (attempt < ROTATION_ATTEMPTS) {
        const measured = fs.fstatSync(fd);
        const overflows = measured.size > 0 && measured.size + data.length > policy.maxBytes;
        if (overflows && rotate(file, measured, policy)) continue;
      }
      writeWhole(fd, data);
      return;
    } finally {
      fs.closeSync(fd);
    }
  }
}
