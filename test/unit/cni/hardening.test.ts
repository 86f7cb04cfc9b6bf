import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectStaleTempFiles, writeFileAtomic } from '../../../src/base/atomic-file.ts';
import { processStartTime, stopDelegate } from '../../../src/cni/delegate-process.ts';
import { asCniError, CniCode } from '../../../src/base/errors.ts';
import { handleInvocation, type PluginHandlers } from '../../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../../src/cni/versions.ts';
import { lockContainer } from '../../../src/multiplex/lock.ts';

// Issue 14 at the unit level: codes (never 999), the node's own netns refused in the shared
// plugin skeleton (braid, braid-veth and braid-agent all answer through it), temp files,
// recorded delegates and a killed lock holder.

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-harden-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const srcRoot = path.resolve(import.meta.dirname, '../../../src');

function sourceFiles(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe("every failure carries a spec code or one of braid's own, never 999", () => {
  it('no source file reports 999, and CniCode has no 999', () => {
    const offenders = sourceFiles(srcRoot).flatMap((file) =>
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${path.relative(srcRoot, file)}:${i + 1}` }))
        .filter(({ line }) => /\b999\b/.test(line) && !/^\s*(\*|\/\/|\/\*)/.test(line)),
    );
    expect(offenders.map((o) => `${o.at}: ${o.line.trim()}`)).toEqual([]);
    expect(Object.values(CniCode)).not.toContain(999);
  });

  it('maps what is not a CniError: errno → 5 with the path, stack overflow → 6, anything else → 104 with its type', () => {
    let enospc: unknown;
    try {
      fs.readFileSync(path.join(dir, 'missing'));
    } catch (e) {
      enospc = e;
    }
    expect(asCniError(enospc)).toMatchObject({ code: 5, message: expect.stringContaining(dir) });
    let overflow: unknown;
    try {
      JSON.stringify(JSON.parse(`${'['.repeat(300_000)}${']'.repeat(300_000)}`));
    } catch (e) {
      overflow = e;
    }
    expect(asCniError(overflow).code).toBe(6);
    expect(asCniError(new TypeError('x is undefined'))).toMatchObject({
      code: 104,
      message: 'unexpected TypeError in braid: x is undefined',
    });
    expect(asCniError('weird').code).toBe(104);
  });

  it('a container ID longer than braid can store is code 4 naming the limit', async () => {
    const never = (): never => {
      throw new Error('not reached');
    };
    const h: PluginHandlers = {
      supportedVersions: BRAID_SUPPORTED_VERSIONS,
      add: never,
      del: never,
      check: never,
      status: never,
      gc: never,
    };
    const out = await handleInvocation(
      h,
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a'.repeat(201), CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/x' },
      JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'braid' }),
    );
    expect(out.output).toMatchObject({ code: 4, msg: expect.stringContaining('at most 200') });
  });
});

describe('the node is never a pod (shared skeleton, so also in braid-agent, against its own netns)', () => {
  const called: string[] = [];
  const handlers: PluginHandlers = {
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    add: async (req) => {
      called.push(`ADD ${req.netns}`);
      return { cniVersion: '1.0.0' };
    },
    del: async (req) => void called.push(`DEL ${req.netns}`),
    check: async (req) => void called.push(`CHECK ${req.netns}`),
    status: async () => undefined,
    gc: async () => undefined,
  };
  const env = (command: string, netns: string) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/x',
  });
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'braid' });

  it.each(['/proc/self/ns/net', '/proc/thread-self/ns/net', `/proc/${process.pid}/ns/net`])(
    '%s: ADD and CHECK are code 4, DEL runs without a netns',
    async (netns) => {
      called.length = 0;
      for (const verb of ['ADD', 'CHECK']) {
        const out = await handleInvocation(handlers, env(verb, netns), conf);
        expect(out.output).toMatchObject({ code: 4, msg: expect.stringContaining(netns) });
      }
      expect((await handleInvocation(handlers, env('DEL', netns), conf)).exitCode).toBe(0);
      expect(called).toEqual(['DEL ']);
    },
  );

  it('another path (a pod netns, or one that does not exist) goes through', async () => {
    called.length = 0;
    expect((await handleInvocation(handlers, env('ADD', '/run/netns/braid-no-such'), conf)).exitCode).toBe(0);
    expect(called).toEqual(['ADD /run/netns/braid-no-such']);
  });
});

describe('temp files', () => {
  it('a failed write removes its temp file and is code 5 naming the path', () => {
    const file = path.join(dir, 'sub');
    fs.writeFileSync(file, 'a file where a directory should be');
    let thrown: unknown;
    try {
      writeFileAtomic(path.join(file, 'x.json'), '{}', { durable: true });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 5, message: expect.stringContaining(path.join(file, 'x.json')) });
    expect(fs.readdirSync(dir)).toEqual(['sub']);
  });

  it("collects temp files of dead writers and old ones, keeps a live writer's", () => {
    const dead = path.join(dir, 'a.json.tmp-999999');
    const live = path.join(dir, `b.json.tmp-${process.ppid}`);
    const old = path.join(dir, `c.json.tmp-${process.ppid}`);
    for (const f of [dead, live, old]) fs.writeFileSync(f, 'x');
    const hourAgo = Date.now() / 1000 - 3600;
    fs.utimesSync(old, hourAgo, hourAgo);
    fs.writeFileSync(path.join(dir, 'd.json'), '{}');

    expect(collectStaleTempFiles(dir).sort()).toEqual([dead, old].sort());
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(live), 'd.json'].sort());
  });
});

/** Processes of a group that still run (zombies awaiting their reaper do not). */
function liveMembers(pgid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .flatMap((n) => {
      try {
        const f = fs.readFileSync(`/proc/${n}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return f[2] === String(pgid) && f[0] !== 'Z' ? [Number(n)] : [];
      } catch {
        return [];
      }
    });
}

describe('recorded delegates and locks', () => {
  it('stopDelegate kills the recorded group (leader and forks) and spares a pid whose start time differs', async () => {
    const group = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    const other = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(await stopDelegate({ pid: other.pid!, startTime: 'not-its-start' })).toBe(false);
      const closed = new Promise((r) => group.once('close', (_code, signal) => r(signal)));
      expect(await stopDelegate({ pid: group.pid!, startTime: processStartTime(group.pid!)! })).toBe(true);
      expect(await closed).toBe('SIGKILL');
      expect(liveMembers(group.pid!)).toEqual([]);
      expect(processStartTime(other.pid!)).toBeDefined();
    } finally {
      group.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });

  it('holders never overlap, also when each removes the lock file on release (a DEL)', async () => {
    let holding = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const lock = await lockContainer(dir, 'c1', 10_000);
        most = Math.max(most, ++holding);
        await new Promise((r) => setTimeout(r, 2));
        holding--;
        await lock.release({ remove: i % 2 === 0 });
      }),
    );
    expect(most).toBe(1);
  });

  it('a SIGKILLed holder releases the container lock, and the lock file lives in a 0700 directory', async () => {
    const file = path.join(dir, 'locks', 'c1.lock');
    await (await lockContainer(dir, 'c1', 1000)).release();
    expect(fs.statSync(path.join(dir, 'locks')).mode & 0o777).toBe(0o700);
    const lockModule = path.join(srcRoot, 'multiplex', 'lock.ts');
    const holder = spawn(
      process.execPath,
      [
        '--experimental-transform-types',
        '--no-warnings',
        '-e',
        `import(${JSON.stringify(lockModule)}).then(async (m) => { await m.lockContainer(${JSON.stringify(dir)}, 'c1', 1000); console.log('held'); setInterval(() => {}, 60000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => holder.stdout!.once('data', r));
    await expect(lockContainer(dir, 'c1', 100)).rejects.toMatchObject({ code: 11 });
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    const lock = await lockContainer(dir, 'c1', 2000);
    await lock.release({ remove: true });
    expect(fs.existsSync(file)).toBe(false);
  });
});
