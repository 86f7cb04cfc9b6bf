import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { withFileLock } from '../net/file-lock.ts';
import { silenceLibbpf } from './libbpf.ts';
import { BpfObject } from './object.ts';
import { closeFd, tryOpenPinned } from './pins.ts';

export interface PinnedPrograms<P extends string> {
  fds: Record<P, number>;
  close(): void;
}

export interface PinnedProgramsSpec<P extends string> {
  /** The compiled object (dist/bpf/<name>.o). */
  objectPath: string;
  /** Pin root of the object's maps; programs go to <pinRoot>/progs-<hash of the object>/. */
  pinRoot: string;
  programs: readonly P[];
  /** Directory whose lock serialises the first load (libbpf fails a second pin of a map). */
  lockDir: string;
}

function openAll<P extends string>(dir: string, programs: readonly P[]): PinnedPrograms<P> | undefined {
  const fds = programs.map((p) => tryOpenPinned(join(dir, p)));
  if (fds.every((fd) => fd !== undefined)) {
    const byName = Object.fromEntries(programs.map((p, i) => [p, fds[i]!])) as Record<P, number>;
    return { fds: byName, close: () => fds.forEach(closeFd) };
  }
  fds.forEach(closeFd);
  return undefined;
}

/**
 * The programs of one build of an object, loaded once and then reused from their pins: a CNI
 * plugin process opens the pins instead of loading and verifying the object again. The first
 * caller loads it (creating or reusing its pinned maps) under the lock; a new build of the object
 * gets a directory of its own, so processes of the old and the new build never mix programs.
 * Loading a new build removes the pins of the others: links attached with an old build's
 * programs keep those programs alive until the link goes, and a process of the old build that
 * still runs loads its own again, so nothing an upgrade leaves behind stays in bpffs for good.
 */
export function ensurePinnedPrograms<P extends string>(spec: PinnedProgramsSpec<P>): PinnedPrograms<P> {
  const hash = createHash('sha256').update(readFileSync(spec.objectPath)).digest('hex').slice(0, 12);
  const progDir = join(spec.pinRoot, `progs-${hash}`);
  const existing = openAll(progDir, spec.programs);
  if (existing) return existing;
  if (!process.env.BRAID_LIBBPF_DEBUG) silenceLibbpf();
  return withFileLock(spec.lockDir, () => {
    const again = openAll(progDir, spec.programs);
    if (again) return again;
    const obj = BpfObject.open(spec.objectPath, { pinRoot: spec.pinRoot });
    try {
      obj.load();
      for (const p of spec.programs) obj.pinProgram(p, join(progDir, p));
    } finally {
      obj.close();
    }
    const loaded = openAll(progDir, spec.programs);
    if (!loaded) throw new CniError(CniCode.Internal, `programs pinned in ${progDir} vanished right after loading`);
    removeOtherBuilds(spec.pinRoot, progDir);
    return loaded;
  });
}

/** Unpins the programs of every other build under pinRoot (bpffs: unlink each pin, then the directory). */
function removeOtherBuilds(pinRoot: string, current: string): void {
  for (const entry of readdirSync(pinRoot)) {
    const dir = join(pinRoot, entry);
    if (!entry.startsWith('progs-') || dir === current) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another loader removed it first, or it is busy: the next load of a new build tries again.
    }
  }
}
