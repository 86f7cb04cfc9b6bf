import { join } from 'node:path';
import { findBpfObject } from '../bpf/object-file.ts';
import { ensurePinnedPrograms, type PinnedPrograms } from '../bpf/pinned-programs.ts';
import { listPins } from '../bpf/pins.ts';
import {
  attachTcxPinned,
  detachTcxPinned,
  pinnedLinkInfo,
  queryTcx,
  type Direction,
  type LinkInfo,
} from '../bpf/tcx.ts';

const OBJECT_FILE = 'veth.o';
/** Program → hook on the host-side veth. */
export const HOOKS: readonly { program: 'from_pod' | 'to_pod'; dir: Direction }[] = [
  { program: 'from_pod', dir: 'ingress' },
  { program: 'to_pod', dir: 'egress' },
];

/**
 * Where the datapath lives under bpfRoot:
 *   <bpfRoot>/veth/braid_ep, braid_ep_stats   maps (pinned by name, shared by all pods)
 *   <bpfRoot>/veth/progs-<hash>/{from_pod,to_pod}   programs of one build of veth.o
 *   <bpfRoot>/veth/links/<hostVeth>-{ingress,egress}   one pinned tcx link per hook
 */
export function pinDir(bpfRoot: string): string {
  return join(bpfRoot, 'veth');
}

export function linkPin(bpfRoot: string, hostVeth: string, dir: Direction): string {
  return join(pinDir(bpfRoot), 'links', `${hostVeth}-${dir}`);
}

/** The compiled veth.o (see findBpfObject for where it is looked for). */
export function objectPath(): string {
  return findBpfObject(OBJECT_FILE, 'braid-veth datapath');
}

export type Programs = PinnedPrograms<'from_pod' | 'to_pod'>;

/**
 * The datapath programs, loaded once per build of veth.o and then reused from their pins. The
 * first caller loads the object (creating or reusing the pinned maps) under the state lock.
 */
export function ensurePrograms(bpfRoot: string, stateDir: string): Programs {
  return ensurePinnedPrograms({
    objectPath: objectPath(),
    pinRoot: pinDir(bpfRoot),
    programs: HOOKS.map((h) => h.program),
    lockDir: stateDir,
  });
}

/** Attaches both programs to the host-side veth (host namespace), links pinned. */
export function attachHostVeth(programs: Programs, bpfRoot: string, hostVeth: string, ifindex: number): void {
  for (const { program, dir } of HOOKS) {
    const pin = linkPin(bpfRoot, hostVeth, dir);
    detachTcxPinned(pin); // leftover of an interrupted ADD for the same attachment
    attachTcxPinned(programs.fds[program], ifindex, dir, pin, { label: `${hostVeth} in the host netns` });
  }
}

/** Detaches and unpins both links; fine when they or the device are already gone. */
export function detachHostVeth(bpfRoot: string, hostVeth: string): void {
  for (const { dir } of HOOKS) detachTcxPinned(linkPin(bpfRoot, hostVeth, dir));
}

/** Host veth names that still have pinned links (for GC). */
export function pinnedHostVeths(bpfRoot: string): string[] {
  const names = listPins(join(pinDir(bpfRoot), 'links'))
    .map((n) => n.replace(/-(ingress|egress)$/, ''))
    .filter((n) => n !== '');
  return [...new Set(names)];
}

/**
 * Problems with the hooks of one host veth: each pinned link must be attached to `ifindex` and
 * its program must be in the device's tcx list. Empty when all is well.
 */
export function hookProblems(bpfRoot: string, hostVeth: string, ifindex: number): string[] {
  const problems: string[] = [];
  for (const { program, dir } of HOOKS) {
    const pin = linkPin(bpfRoot, hostVeth, dir);
    const info: LinkInfo | undefined = pinnedLinkInfo(pin);
    if (!info) {
      problems.push(`no pinned tcx ${dir} link at ${pin}`);
      continue;
    }
    if (info.ifindex !== ifindex) {
      problems.push(`tcx ${dir} link ${pin} is attached to ifindex ${info.ifindex}, expected ${ifindex}`);
      continue;
    }
    if (!queryTcx(ifindex, dir, hostVeth).includes(info.progId)) {
      problems.push(`program ${program} (id ${info.progId}) is not in the tcx ${dir} list of ${hostVeth}`);
    }
  }
  return problems;
}
