/**
 * Issue 10's benchmark (a): braid with its defaults (policy on), a bridge cluster network plus
 * three macvlan networks, N pods, medians and ratios measured side by side in one run:
 *   the four delegates called directly / braid (dist/host/braid, the front door) through braid-agent / braid thin.
 * Twice: with no policy in the store (nothing selects the pods), and with a policy that selects
 * every pod's mv1 interface (programs attached before ADD answers). The machine is shared with
 * other work, so the ratios are the figures to quote, not the absolute times.
 * Root, after `npm run build && npm run build:sea`:
 *   node --experimental-transform-types test/bench/policy-overhead.ts [pods]
 */
import fs from 'node:fs';
import path from 'node:path';
import { median } from './bench-tools.ts';
import { timeDirect } from './bench-pod.ts';
import { makePodBed, hostBraid, serverPolicy } from './policy-pod-bed.ts';

const pods = Number(process.argv[2] ?? 30);
const bed = makePodBed();

async function series(key: string, label: string, labels: Record<string, string>): Promise<void> {
  const t: Record<string, number[]> = {};
  const record = (k: string, ms: number) => (t[k] ??= []).push(ms);
  const args = bed.writePod(`pod-${key}`, labels);
  for (let i = 0; i < pods + 2; i++) {
    const ns = bed.newNetns();
    try {
      const b = { CNI_NETNS: `/run/netns/${ns}`, CNI_ARGS: args, CNI_IFNAME: 'eth0' };
      const call = (mode: string, sock: string) => {
        const id = { ...b, CNI_CONTAINERID: `${key}-${mode}-${i}` };
        return [bed.cni(hostBraid, 'ADD', id, bed.conf(sock)), bed.cni(hostBraid, 'DEL', id, bed.conf(sock))] as const;
      };
      const [agentAdd, agentDel] = call('agent', bed.socket);
      const [thinAdd, thinDel] = call('thin', '');
      const id = { ...b, CNI_CONTAINERID: `${key}-direct-${i}` };
      const direct = (verb: 'ADD' | 'DEL') =>
        timeDirect(bed.direct, verb, (plugin, ifname, conf) =>
          bed.cni(plugin, verb, { ...id, CNI_IFNAME: ifname }, conf),
        );
      const [da, dd] = [direct('ADD'), direct('DEL')];
      if (i < 2) continue; // warm-up
      record('agentAdd', agentAdd);
      record('agentDel', agentDel);
      record('thinAdd', thinAdd);
      record('thinDel', thinDel);
      record('directAdd', da);
      record('directDel', dd);
    } finally {
      bed.dropNetns(ns);
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`\n${label}: ${pods} pods, medians in ms (ratio = braid / delegates alone)`);
  console.log('verb  path                          ms  overhead   ratio');
  for (const verb of ['Add', 'Del'] as const) {
    const dlg = median(t[`direct${verb}`]!);
    console.log(`${verb.toUpperCase().padEnd(5)} ${'delegates alone'.padEnd(24)} ${f(dlg)}  ${f(0)}   1.00`);
    for (const [key, name] of [
      ['agent', 'braid through the agent'],
      ['thin', 'braid thin'],
    ] as const) {
      const ms = median(t[`${key}${verb}`]!);
      console.log(
        `${verb.toUpperCase().padEnd(5)} ${name.padEnd(24)} ${f(ms)}  ${f(ms - dlg)}   ${(ms / dlg).toFixed(2)}`,
      );
    }
  }
}

try {
  if (!fs.existsSync(hostBraid)) throw new Error(`${hostBraid} is missing: run npm run build && npm run build:sea`);
  const agent = await bed.startAgent();
  try {
    await series('idle', 'no policy selects the pods', { app: 'idle' });
    bed.writePolicy('mv1-from-clients', serverPolicy());
    await series('selected', 'a policy selects each pod on mv1', { app: 'selected' });
  } finally {
    await agent.stop();
  }
  const left = fs.existsSync(path.join(bed.bpfRoot, 'mnp', 'links'))
    ? fs.readdirSync(path.join(bed.bpfRoot, 'mnp', 'links'))
    : [];
  console.log(`\npinned policy links left after every DEL: ${left.length}`);
} finally {
  bed.cleanup();
}
