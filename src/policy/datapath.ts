import { bundledAsset } from '../cni/sea-assets.ts';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniCode, CniError } from '../cni/errors.ts';
import { ensurePinnedPrograms } from '../bpf/pinned-programs.ts';
import { PROGRAMS } from './layout.ts';

/**
 * Where the policy datapath lives under bpfRoot:
 *   <bpfRoot>/mnp/mnp_*                        maps, pinned by name, shared by every interface
 *   <bpfRoot>/mnp/progs-<hash>/mnp_in|mnp_out  programs of one build of mnp.o
 *   <bpfRoot>/mnp/links/<ifaceId>-in|out       one pinned tcx link per hook
 * The object is loaded once per build; later calls open the pins (ADD stays fast).
 */
const OBJECT_FILE = 'mnp.o';

export function mapDir(bpfRoot: string): string {
  return join(bpfRoot, 'mnp');
}

export function linkPin(bpfRoot: string, ifaceId: number, dir: 'in' | 'out'): string {
  return join(mapDir(bpfRoot), 'links', `${ifaceId}-${dir}`);
}

/** mnp.o: the explicit path, $BRAID_BPF_DIR, the copy a single executable carries, ./bpf next to the bundle, else the repo's dist/bpf. */
export function mnpObjectPath(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  if (process.env.BRAID_BPF_DIR) candidates.push(join(process.env.BRAID_BPF_DIR, OBJECT_FILE));
  const bundled = bundledAsset(OBJECT_FILE);
  if (bundled) candidates.push(bundled);
  const here = dirname(fileURLToPath(import.meta.url));
  candidates.push(join(here, 'bpf', OBJECT_FILE), join(here, '../../dist/bpf', OBJECT_FILE));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new CniError(
      CniCode.NotAvailable,
      `policy datapath object ${OBJECT_FILE} not found (looked in ${candidates.join(', ')}); build it with scripts/build-bpf.sh or set BRAID_BPF_DIR`,
    );
  }
  return found;
}

export interface PolicyPrograms {
  in: number;
  out: number;
  close(): void;
}

/**
 * The programs of the current mnp.o, loading the object (and creating or reusing the pinned
 * maps) on first use. Takes the policy lock only when it has to load.
 */
export function ensureDatapath(bpfRoot: string, stateDir: string, objectPath?: string): PolicyPrograms {
  const { fds, close } = ensurePinnedPrograms({
    objectPath: mnpObjectPath(objectPath),
    pinRoot: mapDir(bpfRoot),
    programs: PROGRAMS,
    lockDir: stateDir,
  });
  return { in: fds.mnp_in, out: fds.mnp_out, close };
}
