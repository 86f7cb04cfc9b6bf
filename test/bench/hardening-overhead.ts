/**
 * What the hardening (flock locks, recorded delegates, the setpriv launcher, durable writes) costs
 * a thin-mode call: ADD and DEL of one pod (cluster bridge + host-local, policy on, braid's
 * defaults otherwise) with two braid binaries, alternated call by call in one run, so that the
 * machine's load hits both alike. Prints medians and the ratio new/old.
 *
 *   node --experimental-transform-types test/bench/hardening-overhead.ts --old <braid> --new <braid> [--rounds 15]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pdeathsigLauncher } from '../../src/cni/delegate-process.ts';
import { lockContainer } from '../../src/multiplex/lock.ts';
import { median } from './bench-tools.ts';
import { ProbeBed } from '../probe/probe-bed.ts';

const exited = (file: string, args: string[]) =>
  new Promise((r) => spawn(file, args, { stdio: 'ignore' }).on('close', r));

/** What braid's lock was before: a bound abstract unix socket. */
function abstractLock(name: string): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ path: `\0${name}`, exclusive: true }, () =>
      resolve(() => new Promise((r) => server.close(() => r()))),
    );
  });
}

/** The parts alone, alternated: a delegate spawned directly vs through setpriv, the old lock vs the new. */
async function parts(rounds: number): Promise<void> {
  const launcher = pdeathsigLauncher();
  const dir = mkdtempSync(join(tmpdir(), 'braid-t-bench-'));
  const t: Record<string, number[]> = { direct: [], setpriv: [], abstract: [], flock: [] };
  try {
    for (let i = 0; i < rounds * 2; i++) {
      let s = performance.now();
      await exited('/bin/true', []);
      t.direct!.push(performance.now() - s);
      if (launcher) {
        s = performance.now();
        await exited(launcher[0]!, [...launcher.slice(1), '/bin/true']);
        t.setpriv!.push(performance.now() - s);
      }
      s = performance.now();
      await (await abstractLock(`braid-bench-${process.pid}-${i}`))();
      t.abstract!.push(performance.now() - s);
      s = performance.now();
      await (await lockContainer(dir, `c${i}`, 1000)).release({ remove: true });
      t.flock!.push(performance.now() - s);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = (k: string) => median(t[k]!);
  if (launcher)
    console.log(
      `delegate start: direct ${m('direct').toFixed(2)} ms, through setpriv ${m('setpriv').toFixed(2)} ms (+${(m('setpriv') - m('direct')).toFixed(2)} ms)`,
    );
  console.log(
    `lock+release: abstract socket (before) ${m('abstract').toFixed(2)} ms, lock file in <cniDir>/locks (now) ${m('flock').toFixed(2)} ms`,
  );
}

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const binaries = { old: arg('old'), new: arg('new') };
  const rounds = Number(arg('rounds', '15'));
  const bed = new ProbeBed(binaries.new);
  const times: Record<string, number[]> = { 'old ADD': [], 'new ADD': [], 'old DEL': [], 'new DEL': [] };
  try {
    await bed.setUp();
    const { ns, name } = await bed.newPod(undefined, {});
    for (let i = 0; i < rounds; i++) {
      for (const which of i % 2 ? (['new', 'old'] as const) : (['old', 'new'] as const)) {
        const call = { containerId: `bench-${which}-${i}`, pod: ns, podName: name };
        for (const verb of ['ADD', 'DEL']) {
          const t = performance.now();
          const r = await bed.run(verb, call, binaries[which]);
          if (r.code !== 0) throw new Error(`${which} ${verb}: ${r.stdout}`);
          if (i > 0) times[`${which} ${verb}`]!.push(performance.now() - t);
        }
      }
    }
  } finally {
    await bed.cleanUp();
  }
  await parts(rounds);
  for (const verb of ['ADD', 'DEL']) {
    const o = median(times[`old ${verb}`]!);
    const n = median(times[`new ${verb}`]!);
    console.log(
      `${verb}: old ${o.toFixed(1)} ms, new ${n.toFixed(1)} ms (median of ${rounds - 1}), new/old ${(n / o).toFixed(2)}`,
    );
  }
}

void main();
