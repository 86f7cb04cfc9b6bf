/**
 * Cost of fragment tracking in the policy program, with BPF_PROG_TEST_RUN (the kernel's own
 * timing of `repeat` runs): an ordinary UDP datagram of an established flow, through the build of
 * mnp.o this branch started from and through the current one, side by side in each round; plus
 * the current build's first and later fragments. Usage (root):
 *   node --experimental-transform-types test/bench/policy-fragments.ts [baseline-git-ref] [rounds]
 * The baseline defaults to the commit before fragment tracking came in (5c47351^). Medians in ns
 * per packet; the machine may be shared, so read the ratios.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBpfObjects, bpfObjectDir, repoRoot } from '../bpf/env.ts';
import { createHarness, type Harness } from '../bpf/mnp-harness.ts';
import { firstFragment, flowPacket, laterFragment } from '../bpf/mnp-packets.ts';
import { mnp, pod, view } from '../unit/policy/fixtures.ts';

const git = (...args: string[]) => execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).trim();
const baseRef = git('rev-parse', process.argv[2] ?? '5c47351^');
const rounds = Number(process.argv[3] ?? 7);
const REPEAT = 200_000;

/** Compiles bpf/ as of `ref` into a temp dir; returns the object's path. */
function buildAt(ref: string, out: string): string {
  const src = join(out, 'bpf');
  mkdirSync(src, { recursive: true });
  for (const f of git('ls-tree', '--name-only', `${ref}:bpf`).split('\n'))
    writeFileSync(join(src, f), git('show', `${ref}:bpf/${f}`));
  execFileSync('clang', [
    '-target',
    'bpf',
    '-O2',
    '-g',
    '-mcpu=v3',
    '-I/usr/include/x86_64-linux-gnu',
    `-I${src}`,
    '-c',
    join(src, 'mnp.c'),
    '-o',
    join(out, 'mnp.o'),
  ]);
  return join(out, 'mnp.o');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const server = pod('app', 'server', { app: 'server' }, { 'app/net1': ['10.1.0.10'] });
const client = pod('app', 'client', { app: 'client' }, { 'app/net1': ['10.1.0.20'] });
const cluster = view([server, client]);
const yaml = mnp(
  'p',
  'app',
  'net1',
  'podSelector: {}\ningress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{protocol: UDP, port: 53}]}]',
);
const datagram = flowPacket({ src: '10.1.0.20', dst: '10.1.0.10', proto: 'udp', sport: 5300, dport: 53 });

function setup(objectPath: string): { h: Harness; time: (frame: Buffer) => number } {
  const h = createHarness(objectPath);
  const t = h.iface(server, 'app/net1');
  h.apply(yaml, cluster);
  if (t.run('in', datagram) !== -1) throw new Error(`${objectPath}: the allowed datagram was dropped`);
  return { h, time: (frame) => t.time('in', frame, REPEAT) };
}

buildBpfObjects();
const tmp = mkdtempSync(join(tmpdir(), 'braid-t-fragbench-'));
const runs: Harness[] = [];
try {
  const base = setup(buildAt(baseRef, tmp));
  runs.push(base.h);
  const cur = setup(join(bpfObjectDir, 'mnp.o'));
  runs.push(cur.h);
  const first = firstFragment(datagram, 7);
  // A middle fragment: the last one would close the entry after the first run.
  const later = laterFragment(datagram, 7, true);
  const s = { base: [] as number[], cur: [] as number[], first: [] as number[], later: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    s.base.push(base.time(datagram));
    s.cur.push(cur.time(datagram));
    s.first.push(cur.time(first));
    s.later.push(cur.time(later));
  }
  const m = { base: median(s.base), cur: median(s.cur), first: median(s.first), later: median(s.later) };
  console.log(
    `baseline ${baseRef.slice(0, 10)}, ${rounds} rounds of ${REPEAT} runs, median ns per packet (shared machine: read the ratios)`,
  );
  console.log(`  established datagram, baseline build   ${m.base}`);
  console.log(`  established datagram, current build    ${m.cur}  (ratio ${(m.cur / m.base).toFixed(2)})`);
  console.log(
    `  first fragment, current build          ${m.first}  (ratio to the datagram ${(m.first / m.cur).toFixed(2)})`,
  );
  console.log(
    `  middle fragment, current build         ${m.later}  (ratio to the datagram ${(m.later / m.cur).toFixed(2)})`,
  );
} finally {
  for (const h of runs) h.destroy();
  rmSync(tmp, { recursive: true, force: true });
}
