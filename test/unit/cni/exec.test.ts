import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delegateFailure, execPlugin } from '../../../src/cni/exec.ts';
import { cniRejection, shellScript } from '../../helpers/cni-error.ts';

let dir: string;

const script = (name: string, body: string): string => shellScript(dir, name, body);

const rejection = cniRejection;

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

/** Gone, or a zombie waiting for a reaper (PID 1 of a container may never reap it). */
function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const base = { env: { PATH: '/usr/bin:/bin' }, stdin: '{}', timeoutMs: 5000, label: 'net1/spy' };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-exec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('M4 success', () => {
  it('returns stdout, passes stdin and exactly the given env', async () => {
    const p = script('echo', 'printf "%s|%s|%s" "$(cat)" "$CNI_COMMAND" "${HOME:-nohome}"');
    const out = await execPlugin({ ...base, path: p, env: { CNI_COMMAND: 'ADD' }, stdin: '{"a":1}' });
    expect(out).toBe('{"a":1}|ADD|nohome');
  });

  it('copes with a plugin that never reads stdin', async () => {
    const p = script('noread', 'echo ok');
    expect(await execPlugin({ ...base, path: p, stdin: 'x'.repeat(1 << 20) })).toBe('ok\n');
  });
});

describe('M3 stderr', () => {
  it('forwards the delegate stderr', async () => {
    const err = sink();
    const p = script('noisy', 'echo "diagnostic line" >&2; echo "{}"');
    await execPlugin({ ...base, path: p, stderr: err.stream });
    expect(err.text()).toBe('diagnostic line\n');
  });
});

describe('B4 delegate errors keep their code', () => {
  it('keeps code, message and details, prefixed with the label', async () => {
    const p = script('fail', 'echo \'{"code":11,"msg":"try later","details":"lock busy"}\'; exit 1');
    const e = await rejection(execPlugin({ ...base, path: p }));
    expect(e.code).toBe(11);
    expect(e.message).toBe('net1/spy: try later');
    expect(e.details).toBe('lock busy');
  });

  it('reads the error from stderr when stdout is empty (libcni)', async () => {
    const p = script('fail2', 'echo \'{"code":7,"msg":"bad"}\' >&2; exit 1');
    const e = await rejection(execPlugin({ ...base, path: p, stderr: sink().stream }));
    expect(e.code).toBe(7);
  });

  it('keeps 999 from Go plugins', async () => {
    const p = script('fail3', 'echo \'{"code":999,"msg":"failed to find plugin \\"x\\""}\'; exit 1');
    expect((await rejection(execPlugin({ ...base, path: p }))).code).toBe(999);
  });
});

describe('B5 non-JSON failures', () => {
  it('becomes code 101 naming the label and quoting the output', async () => {
    const p = script('garbage', 'echo "panic: runtime error"; exit 2');
    const e = await rejection(execPlugin({ ...base, path: p }));
    expect(e.code).toBe(101);
    expect(e.message).toContain('net1/spy');
    expect(e.message).toContain('exit code 2');
    expect(e.message).toContain('"panic: runtime error"');
  });

  it('quotes at most 200 bytes', () => {
    const e = delegateFailure('x', 'exit code 1', Buffer.from('y'.repeat(1000)), Buffer.alloc(0));
    expect(e.message).toContain(`"${'y'.repeat(200)}..."`);
    expect(e.message).not.toContain('y'.repeat(201));
  });

  it('reports a failure without output', async () => {
    const p = script('silent', 'exit 3');
    const e = await rejection(execPlugin({ ...base, path: p }));
    expect(e.code).toBe(101);
    expect(e.message).toContain('without printing an error');
  });

  it('treats JSON without a code as bad output', () => {
    expect(delegateFailure('x', 'exit code 1', Buffer.from('{"msg":"no code"}'), Buffer.alloc(0)).code).toBe(101);
  });

  it('reports a binary that cannot run as code 5', async () => {
    const p = join(dir, 'notexec');
    writeFileSync(p, 'x');
    expect((await rejection(execPlugin({ ...base, path: p }))).code).toBe(5);
  });
});

describe('delegate timeout', () => {
  it('kills the delegate and its children within the bound (code 100)', async () => {
    const pidFile = join(dir, 'child.pid');
    const p = script('hang', `sleep 30 & echo $! > ${pidFile}; wait`);
    const started = Date.now();
    const e = await rejection(execPlugin({ ...base, path: p, timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.code).toBe(100);
    expect(e.message).toBe('delegate net1/spy timed out after 300 ms and was killed');
    expect(existsSync(pidFile)).toBe(true);
    const child = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(child)).toBe(false);
  });
});
