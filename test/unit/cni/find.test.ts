import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findPlugin } from '../../../src/cni/find.ts';
import { failure } from '../../helpers/failure.ts';

let root: string;
let a: string;
let b: string;

function plugin(dir: string, name: string): string {
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  return p;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'braid-find-'));
  a = join(root, 'a');
  b = join(root, 'b');
  mkdirSync(a);
  mkdirSync(b);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('M1 finding a plugin in CNI_PATH', () => {
  it('takes the first directory that has it', () => {
    plugin(b, 'bridge');
    const first = plugin(a, 'bridge');
    expect(findPlugin('bridge', [a, b])).toBe(first);
  });

  it('keeps looking past directories without it, and missing directories', () => {
    const p = plugin(b, 'macvlan');
    expect(findPlugin('macvlan', [join(root, 'missing'), a, b])).toBe(p);
  });

  it('skips a directory of that name (only regular files count)', () => {
    mkdirSync(join(a, 'tuning'));
    const p = plugin(b, 'tuning');
    expect(findPlugin('tuning', [a, b])).toBe(p);
  });

  it('follows symlinks to regular files', () => {
    const target = plugin(b, 'real');
    symlinkSync(target, join(a, 'alias'));
    expect(findPlugin('alias', [a])).toBe(join(a, 'alias'));
  });

  it('reports a missing plugin with libcni wording and code 7', () => {
    const e = failure(() => findPlugin('nope', [a, b]));
    expect(e.code).toBe(7);
    expect(e.message).toBe(`failed to find plugin "nope" in path [${a} ${b}]`);
  });

  it.each(['', '../bridge', 'a/b', 'a\\b', '/usr/lib/cni/bridge'])('refuses type %j with code 7', (type) => {
    plugin(a, 'bridge');
    expect(failure(() => findPlugin(type, [a])).code).toBe(7);
  });
});
