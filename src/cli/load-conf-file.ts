import fs from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';
import { loadBraidConf } from '../config/conf.ts';
import type { BraidConf } from '../config/types.ts';

/** Reads braid's conf (a `.conf` or a `.conflist`) as the runtime would hand it over on stdin. */
export function loadConfFile(file: string): { conf: BraidConf; raw: Record<string, unknown> } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, `cannot read braid conf ${file}: ${(e as Error).message}`);
  }
  return { conf: loadBraidConf(raw), raw };
}
