import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backupPath, claimBackupPath, listBackups } from '../../../src/log/log-backups.ts';
import { appendLogLine, rotationPolicy, type RotationPolicy } from '../../../src/log/log-rotation.ts';
import { createLogger } from '../../../src/log/log.ts';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-log-'));
  file = path.join(dir, 'braid.log');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** No pruning, no compression: every backup stays, plain. */
function policy(overrides: Partial<RotationPolicy> = {}): RotationPolicy {
  return { maxBytes: 100, maxBackups: 0, maxAgeMs: 0, compress: false, settleMs: 10_000, ...overrides };
}

/** Names in the log directory other than the live file, sorted. */
function backupNames(): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n !== 'braid.log')
    .sort();
}

/** A backup as if rotated `ageMs` ago. */
function fakeBackup(ageMs: number, content: string, gzipped = false): string {
  const name = backupPath(file, new Date(Date.now() - ageMs));
  if (gzipped) fs.writeFileSync(`${name}.gz`, zlib.gzipSync(content));
  else fs.writeFileSync(name, content);
  return path.basename(name) + (gzipped ? '.gz' : '');
}

/** A 30-byte line. */
const line = (n: number) => `line ${String(n).padStart(3, '0')} ${'.'.repeat(20)}\n`;

describe('backup names', () => {
  it('follow lumberjack: <name>-<UTC time to the millisecond><ext>', () => {
    const at = new Date(Date.UTC(2026, 10, 22, 1, 2, 3, 4));
    expect(backupPath('/var/log/braid.log', at)).toBe('/var/log/braid-2026-11-22T01-02-03.004.log');
    expect(backupPath('/var/log/braid', at)).toBe('/var/log/braid-2026-11-22T01-02-03.004');
    expect(backupPath('/var/log/braid.log', at, 2)).toBe('/var/log/braid-2026-11-22T01-02-03.004-2.log');
  });

  it('get a tiebreak when two rotations fall in the same millisecond, never replacing a backup', () => {
    const at = new Date(Date.UTC(2026, 10, 22, 1, 2, 3, 4));
    const first = claimBackupPath(file, at);
    const second = claimBackupPath(file, at);
    expect(path.basename(first)).toBe('braid-2026-11-22T01-02-03.004.log');
    expect(path.basename(second)).toBe('braid-2026-11-22T01-02-03.004-1.log');
    expect(listBackups(file).map((b) => b.plain)).toEqual([second, first]);
  });

  it('carry the time of the rotation', () => {
    // 90 of 100 bytes; the fourth line is the one that rotates, so the window is around it alone.
    for (let i = 0; i < 3; i++) appendLogLine(file, line(i), policy());
    const before = Date.now();
    appendLogLine(file, line(3), policy());
    const after = Date.now();
    const [backup] = listBackups(file);
    expect(backupNames()).toEqual([path.basename(backup!.plain!)]);
    expect(backupNames()[0]).toMatch(/^braid-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$/);
    // A second of slack: a VM's wall clock can be stepped between two readings, and the test is
    // about which time the name carries (the rotation's), not about the clock's resolution.
    expect(backup!.time).toBeGreaterThanOrEqual(before - 1000);
    expect(backup!.time).toBeLessThanOrEqual(after + 1000);
  });
});

describe('rotation at maxSize', () => {
  it('moves the file aside when a line would take it past the bound; that line starts the new file', () => {
    for (let i = 0; i < 3; i++) appendLogLine(file, line(i), policy()); // 90 of 100 bytes
    expect(backupNames()).toEqual([]);
    appendLogLine(file, line(3), policy());
    const [backup] = backupNames();
    expect(fs.readFileSync(path.join(dir, backup!), 'utf8')).toBe(line(0) + line(1) + line(2));
    expect(fs.readFileSync(file, 'utf8')).toBe(line(3));
  });

  it('lets a line fill the file exactly to the bound', () => {
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ maxBytes: 120 }));
    expect(backupNames()).toEqual([]);
    expect(fs.statSync(file).size).toBe(120);
  });

  it('writes a line longer than the bound whole, into a file of its own', () => {
    const long = `${'y'.repeat(250)}\n`;
    appendLogLine(file, line(0), policy());
    appendLogLine(file, long, policy());
    appendLogLine(file, line(1), policy());
    // Oldest first; both rotations may fall in one millisecond, so order by the tiebreak too.
    const contents = listBackups(file)
      .reverse()
      .map((b) => fs.readFileSync(b.plain!, 'utf8'));
    expect(contents).toEqual([line(0), long]);
    expect(fs.readFileSync(file, 'utf8')).toBe(line(1));
  });
});

describe('pruning', () => {
  it('keeps the newest maxBackups backups, counting a compressed one with its plain leftover once', () => {
    fakeBackup(5 * MINUTE, 'five\n');
    fakeBackup(4 * MINUTE, 'four\n', true);
    const three = fakeBackup(3 * MINUTE, 'three\n');
    fs.writeFileSync(path.join(dir, `${three}.gz`), zlib.gzipSync('three\n'));
    const two = fakeBackup(2 * MINUTE, 'two\n', true);
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ maxBackups: 2 }));
    const names = backupNames();
    expect(names).toHaveLength(2);
    expect(names).toContain(two);
    const rotated = names.find((n) => n !== two)!;
    expect(fs.readFileSync(path.join(dir, rotated), 'utf8')).toBe(line(0) + line(1) + line(2));
  });

  it('removes backups older than maxAge days, plain and compressed', () => {
    const stale = fakeBackup(2 * DAY, 'stale\n');
    const staleGz = fakeBackup(2 * DAY + MINUTE, 'stale too\n', true);
    const recent = fakeBackup(DAY / 2, 'recent\n', true);
    const p = { ...rotationPolicy({ maxAge: 1, maxSize: 1, maxBackups: 0, compress: false }), maxBytes: 100 };
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), p);
    const names = backupNames();
    expect(names).not.toContain(stale);
    expect(names).not.toContain(staleGz);
    expect(names).toContain(recent);
    expect(names).toHaveLength(2);
  });

  it('leaves files that are not backups of this log alone', () => {
    const others = ['other-2020-01-01T00-00-00.000.log', 'braid.log.1', 'braid-notes.log'];
    for (const n of others) fs.writeFileSync(path.join(dir, n), 'x\n');
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ maxBackups: 1, maxAgeMs: DAY }));
    for (const n of others) expect(fs.existsSync(path.join(dir, n))).toBe(true);
  });
});

describe('compression', () => {
  it('gzips settled backups and removes the plain file', () => {
    const content = Array.from({ length: 50 }, (_, i) => line(i)).join('');
    const plain = fakeBackup(MINUTE, content);
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ compress: true }));
    const names = backupNames();
    expect(names).not.toContain(plain);
    expect(names).toContain(`${plain}.gz`);
    expect(zlib.gunzipSync(fs.readFileSync(path.join(dir, `${plain}.gz`))).toString()).toBe(content);
  });

  it('leaves the backup it just made plain until it has settled, then compresses it at the next rotation', () => {
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ compress: true }));
    const [first] = backupNames();
    expect(first).toMatch(/\.log$/);
    // Rotate again with a settle time that the first backup has outlived.
    for (let i = 4; i < 8; i++) appendLogLine(file, line(i), policy({ compress: true, settleMs: 0 }));
    const names = backupNames();
    expect(names).toContain(`${first}.gz`);
    expect(names).not.toContain(first);
    expect(zlib.gunzipSync(fs.readFileSync(path.join(dir, `${first}.gz`))).toString()).toBe(
      line(0) + line(1) + line(2),
    );
  });

  it('removes partial archives a crashed compression left, once they are stale', () => {
    const base = path.basename(backupPath(file, new Date(Date.now() - DAY)));
    const stale = `${base}.gz.tmp-4242-abc123`;
    const inProgress = `${base}.gz.tmp-4343-def456`;
    fs.writeFileSync(path.join(dir, stale), 'partial');
    fs.writeFileSync(path.join(dir, inProgress), 'partial');
    const hourAgo = new Date(Date.now() - 60 * MINUTE);
    fs.utimesSync(path.join(dir, stale), hourAgo, hourAgo);
    for (let i = 0; i < 4; i++) appendLogLine(file, line(i), policy({ compress: true }));
    expect(fs.existsSync(path.join(dir, stale))).toBe(false);
    expect(fs.existsSync(path.join(dir, inProgress))).toBe(true);
  });
});

describe('rotationPolicy', () => {
  it('converts lumberjack units: megabytes of 2^20 bytes and days', () => {
    expect(rotationPolicy({ maxAge: 5, maxSize: 100, maxBackups: 5, compress: true })).toMatchObject({
      maxBytes: 100 * 1024 * 1024,
      maxAgeMs: 5 * DAY,
      maxBackups: 5,
      compress: true,
    });
    expect(rotationPolicy({ maxAge: 0, maxSize: 1, maxBackups: 0, compress: false })).toMatchObject({
      maxAgeMs: 0,
      maxBackups: 0,
    });
  });
});

describe('createLogger', () => {
  it('rotates logFile at logOptions.maxSize megabytes', () => {
    const log = createLogger(
      {
        logFile: file,
        logLevel: 'verbose',
        logToStderr: false,
        logOptions: { maxSize: 1, maxAge: 0, maxBackups: 0, compress: false },
      },
      'ADD abc',
    );
    const message = 'm'.repeat(1000);
    for (let i = 0; i < 1100; i++) log.verbose(`${i} ${message}`);
    const [backup, ...more] = backupNames();
    expect(more).toEqual([]);
    expect(fs.statSync(path.join(dir, backup!)).size).toBeLessThanOrEqual(1024 * 1024);
    const lines = [backup!, 'braid.log'].flatMap((n) =>
      fs.readFileSync(path.join(dir, n), 'utf8').split('\n').filter(Boolean),
    );
    expect(lines).toHaveLength(1100);
    expect(lines.every((l, i) => l.includes(`[verbose] ADD abc: ${i} m`))).toBe(true);
  });
});

describe('many processes writing at once', () => {
  const WRITERS = 4;
  const LINES = 3000;
  const child = fileURLToPath(new URL('./log-writer-child.ts', import.meta.url));

  function run(args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('error', reject);
      proc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`))));
    });
  }

  function allLines(): string[] {
    return fs.readdirSync(dir).flatMap((n) => {
      const data = fs.readFileSync(path.join(dir, n));
      return (n.endsWith('.gz') ? zlib.gunzipSync(data) : data).toString().split('\n').slice(0, -1);
    });
  }

  it('loses, duplicates and tears no line, with a tiny maxSize and compression', { timeout: 60_000 }, async () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    const shared = policy({ maxBytes: 4096, compress: true, settleMs: 1000 });
    const startAt = String(Date.now() + 1000);
    await Promise.all(
      Array.from({ length: WRITERS }, (_, w) =>
        run([file, String(w), String(LINES), startAt, '1500', JSON.stringify(shared)]),
      ),
    );

    const names = backupNames();
    expect(names.some((n) => n.endsWith('.gz'))).toBe(true);
    expect(names.filter((n) => !/^braid-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(-\d+)?\.log(\.gz)?$/.test(n))).toEqual(
      [],
    );

    const seen = new Map<string, number>();
    for (const l of allLines()) {
      const m = /^writer-(\d+) line-(\d+) (x*)$/.exec(l);
      expect(m, `torn line ${JSON.stringify(l)}`).not.toBeNull();
      expect(m![3]!.length).toBe(Number(m![2]) % 50);
      seen.set(l, (seen.get(l) ?? 0) + 1);
    }
    const expected = Array.from({ length: WRITERS }, (_, w) =>
      Array.from({ length: LINES }, (_, i) => `writer-${w} line-${i} ${'x'.repeat(i % 50)}`),
    ).flat();
    expect(expected.filter((l) => seen.get(l) !== 1)).toEqual([]);
    expect(seen.size).toBe(expected.length);
  });
});
