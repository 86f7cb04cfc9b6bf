import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The import rule CI enforces (scripts/check-imports.mjs), run over a small tree of its own.
const script = path.resolve(import.meta.dirname, '../../../scripts/check-imports.mjs');
let root: string;

function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
}

function check(): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [script, '--root', root], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-imports-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('scripts/check-imports.mjs', () => {
  it('passes a tree whose imports point down', () => {
    write({
      'src/base/errors.ts': 'export class E extends Error {}\n',
      'src/cni/skel.ts': "import { E } from '../base/errors.ts';\nexport const x = E;\n",
    });
    const r = check();
    expect(r.out).toContain('upward imports: 0');
    expect(r.status).toBe(0);
  });

  it.each<{ what: string; files: Record<string, string>; says: string }>([
    {
      what: 'an upward import, type-only',
      files: {
        'src/base/errors.ts': "import type { X } from '../cni/skel.ts';\nexport type Y = X;\n",
        'src/cni/skel.ts': 'export type X = number;\n',
      },
      says: 'src/base/errors.ts -> src/cni/skel.ts',
    },
    {
      what: 'a file circle inside one folder, through a lazy import',
      files: {
        'src/cni/a.ts': "export const a = () => import('./b.ts');\n",
        'src/cni/b.ts': "import { a } from './a.ts';\nexport const b = a;\n",
      },
      says: 'file circles: 1',
    },
    {
      what: 'a default path written outside src/base/defaults.ts',
      files: {
        'src/base/defaults.ts': "const paths = {\n  binDir: '/opt/cni/bin',\n};\nexport const PATHS = paths;\n",
        'src/cni/find.ts': "export const dirs = ['/opt/cni/bin'];\n",
      },
      says: "src/cni/find.ts: '/opt/cni/bin'",
    },
    {
      what: 'a folder with no layer',
      files: { 'src/misc/x.ts': 'export const x = 1;\n' },
      says: 'src/misc/x.ts',
    },
  ])('fails on $what', ({ files, says }) => {
    write(files);
    const r = check();
    expect(r.out).toContain(says);
    expect(r.status).toBe(1);
  });
});
