import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniCode, CniError } from '../cni/errors.ts';
import { silenceLibbpf } from '../bpf/libbpf.ts';
import { BpfObject } from '../bpf/object.ts';
import { closeFd, tryOpenPinned } from '../bpf/pins.ts';
import { withPolicyLock } from './registry.ts';
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

/** mnp.o: the explicit path, $BRAID_BPF_DIR, ./bpf next to the bundle, else the repo's dist/bpf. */
export function mnpObjectPath(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  if (process.env.BRAID_BPF_DIR) candidates.push(join(process.env.BRAID_BPF_DIR, OBJECT_FILE));
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

function openPrograms(dir: string): PolicyPrograms | undefined {
  const fdIn = tryOpenPinned(join(dir, 'mnp_in'));
  const fdOut = tryOpenPinned(join(dir, 'mnp_out'));
  if (fdIn !== undefined && fdOut !== undefined) {
    return { in: fdIn, out: fdOut, close: () => [fdIn, fdOut].forEach(closeFd) };
  }
  closeFd(fdIn);
  closeFd(fdOut);
  return undefined;
}

/**
 * The programs of the current mnp.o, loading the object (and creating or reusing the pinned
 * maps) on first use. Takes the policy lock only when it has to load.
 */
export function ensureDatapath(bpfRoot: string, stateDir: string, objectPath?: string): PolicyPrograms {
  const path = mnpObjectPath(objectPath);
  const hash = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);
  const progDir = join(mapDir(bpfRoot), `progs-${hash}`);
  const existing = openPrograms(progDir);
  if (existing) return existing;
  if (!process.env.BRAID_LIBBPF_DEBUG) silenceLibbpf();
  return withPolicyLock(stateDir, () => {
    const again = openPrograms(progDir);
    if (again) return again;
    const obj = BpfObject.open(path, { pinRoot: mapDir(bpfRoot) });
    try {
      obj.load();
      for (const p of PROGRAMS) obj.pinProgram(p, join(progDir, p));
    } finally {
      obj.close();
    }
    const loaded = openPrograms(progDir);
    if (!loaded) throw new CniError(CniCode.Internal, `programs pinned in ${progDir} vanished right after loading`);
    return loaded;
  });
}
