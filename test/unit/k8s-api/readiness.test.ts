import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import { readinessStatus, waitForReadinessFile } from '../../../src/k8s/readiness.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-ready-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('readinessindicatorfile', () => {
  it('ADD waits until the file appears', async () => {
    const file = join(dir, 'ready');
    setTimeout(() => writeFileSync(file, ''), 150);
    const start = Date.now();
    await waitForReadinessFile(file, 5_000, 20);
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
    expect(Date.now() - start).toBeLessThan(2_000);
  });

  it('ADD fails with code 11 naming the file once the bound has passed', async () => {
    const file = join(dir, 'never');
    const start = Date.now();
    const err = await waitForReadinessFile(file, 300, 50).catch((e: unknown) => e);
    const elapsed = Date.now() - start;
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(11);
    expect((err as CniError).message).toContain(file);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('STATUS reports code 50 while the file is missing and nothing once it exists', async () => {
    const file = join(dir, 'ready');
    const missing = await readinessStatus(file);
    expect(missing?.code).toBe(50);
    expect(missing?.message).toContain(file);
    writeFileSync(file, '');
    expect(await readinessStatus(file)).toBeUndefined();
    expect(await readinessStatus(undefined)).toBeUndefined();
  });
});
