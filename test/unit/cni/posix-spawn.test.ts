import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findPdeathsigLauncher, LAUNCHER_NAME } from '../../../src/cni/delegate-process.ts';
import { execPlugin, type SpawnDelegate } from '../../../src/cni/exec.ts';
import { posixSpawnDelegate } from '../../../src/cni/posix-spawn.ts';
import type { NativeAddon } from '../../../src/net/native-addon.ts';
import { testNativeAddon } from '../../helpers/native-addon.ts';
import { cniRejection, shellScript } from '../../helpers/cni-error.ts';

/**
 * braid starts delegates with posix_spawn (cni/posix-spawn.ts, through braid's addon
 * native/braid-native.c) and through braid-launch (cmd/braid-launch.c): the delegate must see what
 * Node's spawn gives it, and die with its parent.
 */
let dir: string;
let launcherDir: string;

const script = (name: string, body: string): string => shellScript(dir, name, body);

const rejection = cniRejection;

/** Running (not gone, not a zombie). */
function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 200) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let addon: NativeAddon;
const base = {
  env: { PATH: '/usr/bin:/bin' },
  stdin: '{}',
  timeoutMs: 5000,
  label: 'net1/spy',
  spawn: (...a: Parameters<SpawnDelegate>) => posixSpawnDelegate(addon)(...a),
};

beforeAll(async () => {
  launcherDir = mkdtempSync(join(tmpdir(), 'braid-launch-'));
  addon = await testNativeAddon();
  const source = resolve(import.meta.dirname, '../../../cmd/braid-launch.c');
  const cc = spawnSync('clang', ['-static', '-Os', '-o', join(launcherDir, LAUNCHER_NAME), source], {
    encoding: 'utf8',
  });
  if (cc.status !== 0) throw new Error(`clang could not build ${source}: ${cc.stderr}`);
});
afterAll(() => rmSync(launcherDir, { recursive: true, force: true }));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-pspawn-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('delegates started with posix_spawn', () => {
  it('get stdin, exactly the given env, and their stdout and stderr come back', async () => {
    const p = script('echo', 'printf "%s|%s|%s" "$(cat)" "$CNI_COMMAND" "${HOME:-nohome}"; echo diag >&2');
    const err = new PassThrough();
    const chunks: Buffer[] = [];
    err.on('data', (c: Buffer) => chunks.push(c));
    const out = await execPlugin({ ...base, path: p, env: { CNI_COMMAND: 'ADD' }, stdin: '{"a":1}', stderr: err });
    expect(out).toBe('{"a":1}|ADD|nohome');
    expect(Buffer.concat(chunks).toString()).toBe('diag\n');
  });

  it('lead their own session, with no signal ignored or blocked and only 0, 1 and 2 open', async () => {
    // Own session (sid = pid), no ignored or blocked signals, only 0, 1 and 2 open. A Python probe:
    // a shell blocks every signal for moments of its own (around each fork), and opens its script.
    const probe = join(dir, 'probe');
    writeFileSync(
      probe,
      [
        '#!/usr/bin/python3',
        'import os, sys',
        'line = sys.stdin.readline().strip()',
        'status = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith("Sig"))',
        // The listing's own descriptor is gone by the time it is looked at.
        'fds = sorted(int(f) for f in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{f}"))',
        // Python itself ignores SIGPIPE (13) and SIGXFSZ (25) as it starts: not counted.
        'ignored = int(status["SigIgn"], 16) & ~((1 << 12) | (1 << 24))',
        'print(line, os.getsid(0) == os.getpid(), status["SigBlk"].strip(), ignored, fds)',
      ].join('\n'),
    );
    chmodSync(probe, 0o755);
    // Not compared with Node's spawn: from a vitest worker thread its children inherit the thread's
    // blocked signals, and what a child inherits depends on the descriptors the test runner got.
    const viaPosix = await execPlugin({ ...base, path: probe, stdin: 'hello\n' });
    expect(viaPosix.trim()).toBe('hello True 0000000000000000 0 [0, 1, 2]');
  });

  it('copes with a delegate that never reads its stdin', async () => {
    const p = script('noread', 'echo ok');
    expect(await execPlugin({ ...base, path: p, stdin: 'x'.repeat(1 << 20) })).toBe('ok\n');
  });

  it('report exit codes, signals and binaries that cannot run as Node spawn does', async () => {
    const failing = await rejection(execPlugin({ ...base, path: script('garbage', 'echo "panic"; exit 2') }));
    expect(failing.code).toBe(101);
    expect(failing.message).toContain('exit code 2');
    const killed = await rejection(execPlugin({ ...base, path: script('killed', 'echo "x"; kill -TERM $$') }));
    expect(killed.message).toContain('killed by SIGTERM');
    const missing = await rejection(execPlugin({ ...base, path: join(dir, 'missing') }));
    expect(missing.code).toBe(5);
    expect(missing.message).toContain('ENOENT');
  });

  it('are killed with their children on timeout, and reaped', async () => {
    const pidFile = join(dir, 'child.pid');
    const p = script('hang', `sleep 30 & echo $! > ${pidFile}; wait`);
    let leader = 0;
    const e = await rejection(execPlugin({ ...base, path: p, timeoutMs: 300, onStart: (proc) => (leader = proc.pid) }));
    expect(e.code).toBe(100);
    const child = Number(readFileSync(pidFile, 'utf8'));
    await until('the delegate and its child are gone', () => !isRunning(child) && !isRunning(leader));
    // Reaped by braid (its parent), not left a zombie.
    await until('the delegate is reaped', () => {
      try {
        readFileSync(`/proc/${leader}/stat`);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('leave no descriptor open in braid', async () => {
    const p = script('ok', 'cat >/dev/null; echo ok');
    await execPlugin({ ...base, path: p });
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) await execPlugin({ ...base, path: p });
    await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });
});

describe('braid-launch', () => {
  it('is preferred beside braid, setpriv is the fallback, and neither means none', () => {
    expect(findPdeathsigLauncher([dir, launcherDir])).toEqual([join(launcherDir, LAUNCHER_NAME)]);
    const setpriv = findPdeathsigLauncher([dir]);
    expect(setpriv?.slice(1)).toEqual(['--pdeathsig', 'KILL', '--']);
    expect(findPdeathsigLauncher([dir], [])).toBeUndefined();
  });

  it('runs the delegate with its argv and environment, and kills it when its parent dies', async () => {
    const launcher = join(launcherDir, LAUNCHER_NAME);
    const pidFile = join(dir, 'delegate.pid');
    const delegate = script('sleeper', `echo "$0 $CNI_COMMAND" > ${dir}/seen; echo $$ > ${pidFile}; exec sleep 30`);
    // The parent: a shell that starts the delegate through the launcher, then waits to be killed.
    const parent = spawn('/bin/sh', ['-c', `"${launcher}" "${delegate}" & wait`], {
      env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'ADD' },
      stdio: 'ignore',
    });
    await until('the delegate runs', () => {
      try {
        return Number(readFileSync(pidFile, 'utf8')) > 0;
      } catch {
        return false;
      }
    });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(readFileSync(join(dir, 'seen'), 'utf8')).toBe(`${delegate} ADD\n`);
    expect(isRunning(pid)).toBe(true);
    parent.kill('SIGKILL');
    await until('the delegate died with its parent', () => !isRunning(pid));
  });

  it('fails like a delegate that cannot run when the program is missing', () => {
    const run = spawnSync(join(launcherDir, LAUNCHER_NAME), [join(dir, 'missing')], { encoding: 'utf8' });
    expect(run.status).toBe(127);
    expect(JSON.parse(run.stdout)).toMatchObject({ code: 5, msg: expect.stringContaining('cannot run') });
  });
});
