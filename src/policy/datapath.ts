import { join } from 'node:path';
import { findBpfObject } from '../bpf/object-file.ts';
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

/** The compiled mnp.o (see findBpfObject for where it is looked for). */
export function mnpObjectPath(explicit?: string): string {
  return findBpfObject(OBJECT_FILE, 'policy datapath', explicit);
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
