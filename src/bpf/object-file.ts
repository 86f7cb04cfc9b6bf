import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniCode, CniError } from '../base/errors.ts';
import { bundledAsset } from '../base/sea-assets.ts';

/**
 * A compiled BPF object (`veth.o`, `mnp.o`), looked for in order: an explicit path, $BRAID_BPF_DIR,
 * the copy a single executable carries, ./bpf beside the bundle, the repo's dist/bpf (source runs).
 * `what` names the datapath in the error a platform engineer sees when none exists.
 */
export function findBpfObject(file: string, what: string, explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  if (process.env.BRAID_BPF_DIR) candidates.push(join(process.env.BRAID_BPF_DIR, file));
  const bundled = bundledAsset(file);
  if (bundled) candidates.push(bundled);
  const here = dirname(fileURLToPath(import.meta.url));
  candidates.push(join(here, 'bpf', file), join(here, '../../dist/bpf', file));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new CniError(
      CniCode.NotAvailable,
      `${what} object ${file} not found (looked in ${candidates.join(', ')}); build it with scripts/build-bpf.sh or set BRAID_BPF_DIR`,
    );
  }
  return found;
}
