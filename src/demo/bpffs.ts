import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import type { Cleanup } from './cleanup.ts';
import { mustRun } from './exec.ts';

/**
 * The demo's pin root (@BPF_ROOT@): a fresh directory on a bpffs, where braid's ADD pins the
 * MultiNetworkPolicy maps and programs. Normally /sys/fs/bpf/braid-demo-<suffix>; on a host
 * without bpffs there, a private bpffs mounted for the demo and unmounted at clean-up.
 */

const SYSTEM_BPFFS = '/sys/fs/bpf';
const BPF_FS_MAGIC = 0xcafe4a11;

function isBpffs(dir: string): boolean {
  try {
    return statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

async function privateBpffs(cleanup: Cleanup, prefix: string): Promise<string> {
  const mnt = mkdtempSync(path.join(tmpdir(), `${prefix}-bpffs-`));
  cleanup.add(`umount ${mnt}; rmdir ${mnt}`, async () => {
    if (isBpffs(mnt)) await mustRun(['umount', mnt]);
    rmdirSync(mnt);
  });
  try {
    await mustRun(['mount', '-t', 'bpf', 'bpf', mnt]);
  } catch (e) {
    throw new CniError(
      CniCode.InvalidEnv,
      `${SYSTEM_BPFFS} is not a bpffs and mounting one at ${mnt} failed (${(e as Error).message}); ` +
        `policy enforcement needs a bpffs: \`mount -t bpf bpf ${SYSTEM_BPFFS}\`, then run the demo again`,
    );
  }
  return mnt;
}

/** Creates the pin root; its removal (and the private mount's, if any) is registered first. */
export async function preparePinRoot(cleanup: Cleanup, prefix: string): Promise<string> {
  const fs = isBpffs(SYSTEM_BPFFS) ? SYSTEM_BPFFS : await privateBpffs(cleanup, prefix);
  const root = path.join(fs, prefix);
  cleanup.add(`rm -rf ${root}`, () => rmSync(root, { recursive: true, force: true }));
  mkdirSync(root);
  return root;
}

/**
 * The pinned tcx links, one per hook of an enforced interface: DEL must unpin them. The maps and
 * programs beside them (mnp/mnp_*, mnp/progs-*) are the node's, shared by every interface and kept
 * for the next ADD. Layout: src/policy/datapath.ts.
 */
export const LINK_PINS = 'mnp/links/';

/** Every pin under root, as paths relative to it (directories left out). */
export function pinsUnder(root: string): string[] {
  let entries;
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => !e.isDirectory()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}
