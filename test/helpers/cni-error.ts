import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError } from '../../src/base/errors.ts';

/** The CniError a promise rejects with; throws when it resolves or rejects with anything else. */
export async function cniRejection(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  throw new Error('expected a rejection with a CniError');
}

/** An executable `#!/bin/sh` script `dir/name` running `body` (a fake plugin); its path. */
export function shellScript(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
