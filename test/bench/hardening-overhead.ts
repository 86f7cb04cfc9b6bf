/**
 * What the hardening (flock locks, recorded delegates, the setpriv launcher, durable writes) costs
 * a thin-mode call: ADD and DEL of one pod (cluster bridge + host-local, policy on, braid's
 * defaults otherwise) with two braid binaries, alternated call by call in one run, so that the
 * machine's load hits both alike. Prints medians and the ratio new/old.
 *
 *   node --experimental-transform-types test/bench/hardening-overhead.ts --old <braid> --new <braid> [--rounds 15]
 */
import { median } from './bench-tools.ts';
import { ProbeBed } from '../probe/probe-bed.ts';

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
  for (const verb of ['ADD', 'DEL']) {
    const o = median(times[`old ${verb}`]!);
    const n = median(times[`new ${verb}`]!);
    console.log(`${verb}: old ${o.toFixed(1)} ms, new ${n.toFixed(1)} ms (median of ${rounds - 1}), new/old ${(n / o).toFixed(2)}`);
  }
}

void main();
