import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lockContainer, lockFile, type OfdLocking } from '../../../src/multiplex/lock.ts';
import { testNativeAddon } from '../../helpers/native-addon.ts';

/**
 * braid takes container locks as open file description locks (fcntl F_OFD_SETLK, through its
 * addon), and through SQLite where the addon does not load: the two must exclude each other, in
 * both directions.
 */
let ofd: OfdLocking;
beforeAll(async () => {
  const addon = await testNativeAddon();
  ofd = { tryLock: (fd) => addon.ofdTryLock(fd) };
});
const lockModule = path.resolve(import.meta.dirname, '../../../src/multiplex/lock.ts');
let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-agent-lock-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('close', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Another process (a thin-mode braid) holding the container's lock through SQLite until killed. */
async function thinHolder(containerId: string): Promise<ChildProcess> {
  const code = `import(${JSON.stringify(lockModule)}).then(async (m) => { await m.lockContainer(${JSON.stringify(dir)}, ${JSON.stringify(containerId)}, 5000); console.log('held'); setInterval(() => {}, 60000); })`;
  const child = spawn(process.execPath, ['--experimental-transform-types', '--no-warnings', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise((r) => child.stdout!.once('data', r));
  return child;
}

/** Whether another process taking the lock through SQLite gets it within `ms` (exit 0) or gives up (code 11). */
function thinTries(containerId: string, ms: number): Promise<string> {
  const code = `import(${JSON.stringify(lockModule)}).then(async (m) => { try { const l = await m.lockContainer(${JSON.stringify(dir)}, ${JSON.stringify(containerId)}, ${ms}); await l.release(); console.log('got it'); } catch (e) { console.log('code ' + e.code); } })`;
  const child = spawn(process.execPath, ['--experimental-transform-types', '--no-warnings', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((r) => child.once('close', () => r(out.trim())));
}

describe('the agent lock (open file description) against thin-mode processes (SQLite)', () => {
  it('a thin process cannot take a container the agent holds, and gets it once the agent releases it', async () => {
    const held = await lockContainer(dir, 'c1', 1000, ofd);
    expect(await thinTries('c1', 200)).toBe('code 11');
    expect(await thinTries('c2', 2000), 'other containers are free').toBe('got it');
    await held.release();
    expect(await thinTries('c1', 2000)).toBe('got it');
  });

  it('the agent cannot take a container a thin process holds, and gets it once that process is gone', async () => {
    const holder = await thinHolder('c1');
    await expect(lockContainer(dir, 'c1', 150, ofd)).rejects.toMatchObject({ code: 11 });
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    const lock = await lockContainer(dir, 'c1', 2000, ofd);
    await lock.release({ remove: true });
    expect(fs.existsSync(lockFile(dir, 'c1'))).toBe(false);
  });

  it('holders in one process never overlap, whichever kind, also when each removes the file on release', async () => {
    let holding = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const lock = await lockContainer(dir, 'c1', 10_000, i % 3 === 0 ? undefined : ofd);
        most = Math.max(most, ++holding);
        await new Promise((r) => setTimeout(r, 2));
        holding--;
        await lock.release({ remove: i % 2 === 0 });
      }),
    );
    expect(most).toBe(1);
    // A thin process still gets it afterwards: nothing stayed locked.
    expect(await thinTries('c1', 2000)).toBe('got it');
  });
});
