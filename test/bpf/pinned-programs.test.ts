import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensurePinnedPrograms, type PinnedPrograms } from '../../src/bpf/pinned-programs.ts';
import { testRun } from '../../src/bpf/test-run.ts';
import { arpPacket } from '../helpers/packets.ts';
import { bpfObjectDir, buildBpfObjects, isRoot, makePinRoot, type PinRoot } from './env.ts';

// An upgrade of braid brings a new build of a BPF object: its programs are pinned in a directory
// of their own, and the previous build's pins must not stay in bpffs for good.
describe.skipIf(!isRoot)('pinned programs across builds of an object', () => {
  let pins: PinRoot | undefined;
  let work: string | undefined;
  const open: PinnedPrograms<'from_pod' | 'to_pod'>[] = [];

  beforeAll(() => buildBpfObjects());

  afterEach(() => {
    for (const p of open.splice(0)) p.close();
    pins?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("loading a new build unpins the old one; the old build's open programs keep working; the old build reloads its own", () => {
    pins = makePinRoot();
    work = mkdtempSync(join(tmpdir(), 'braid-t-builds-'));
    const oldBuild = join(work, 'old.o');
    const newBuild = join(work, 'new.o');
    copyFileSync(join(bpfObjectDir, 'veth.o'), oldBuild);
    copyFileSync(oldBuild, newBuild);
    // Bytes after the ELF's last section: a different file (another hash), the same programs.
    appendFileSync(newBuild, Buffer.from('braid test build 2'));
    const pinRoot = join(pins.path, 'veth');
    const ensure = (objectPath: string) => {
      const programs = ensurePinnedPrograms({
        objectPath,
        pinRoot,
        programs: ['from_pod', 'to_pod'] as const,
        lockDir: work!,
      });
      open.push(programs);
      return programs;
    };
    const buildDirs = () => readdirSync(pinRoot).filter((f) => f.startsWith('progs-'));

    const old = ensure(oldBuild);
    const [oldDir] = buildDirs();
    expect(buildDirs()).toHaveLength(1);
    ensure(oldBuild);
    expect(buildDirs()).toEqual([oldDir]);

    ensure(newBuild);
    const dirs = buildDirs();
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).not.toBe(oldDir);
    // A process of the old build still holds its programs: they run although their pins are gone.
    const run = testRun(old.fds.from_pod, { data: arpPacket({ senderIp: '10.80.0.10', targetIp: '169.254.1.1' }) });
    expect(run.retval).toBeGreaterThanOrEqual(-1);
    expect(run.retval).toBeLessThanOrEqual(7);

    // An old-build process that starts during the upgrade gets its own programs back.
    ensure(oldBuild);
    expect(buildDirs()).toEqual([oldDir]);
  });
});
