/**
 * Issue 10's benchmark (b): fill one node with N pods (default 100) through braid-agent, braid's
 * defaults (policy on), a bridge cluster network plus three macvlan networks each; a policy
 * selects every pod's mv1 interface (so each ADD attaches programs). Reports the ADD median of
 * the first 20 pods and of the last 20 and their ratio (goal: at most 1.1), then DELs every pod
 * and checks that nothing is left: no cache records, no policy records or pod entries, no pinned
 * links, no IP reservations. As a control it then fills the same node with the same pods through
 * the four delegates called directly: the delegates' own time grows with the devices on the node
 * (more bridge ports, more macvlans on one master) with or without braid. The machine is shared:
 * quote the ratios.
 * Root, after `npm run build && npm run build:sea`:
 *   node --experimental-transform-types test/bench/policy-node-fill.ts [pods]
 * (The same pods with no policy selecting them: policy-overhead.ts, side by side with one.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { getOverSocket, sampleOf } from '../integration/agent-testbed.ts';
import { timeDirect } from './bench-pod.ts';
import { median } from './bench-tools.ts';
import { makePodBed, hostBraid, serverPolicy } from './policy-pod-bed.ts';

const pods = Number(process.argv[2] ?? 100);
const bed = makePodBed();

/** braid's own time in the agent so far (request time minus its delegates' run time), seconds, per verb. */
async function braidSeconds(verb: string): Promise<number> {
  const text = (await getOverSocket(bed.socket, '/metrics')).body;
  const delegates = text
    .split('\n')
    .filter((l) => l.startsWith('braid_delegate_duration_seconds_sum{') && l.includes(`verb="${verb}"`))
    .reduce((s, l) => s + Number(l.split(' ')[1]), 0);
  return (sampleOf(text, `braid_agent_request_duration_seconds_sum{verb="${verb}"}`) ?? 0) - delegates;
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name));
}

/** The same node filled with the same pods, the four delegates called directly: per pod, their ADD time summed. */
function directFill(): number[] {
  const filled: { ns: string; env: Record<string, string> }[] = [];
  const ms: number[] = [];
  try {
    for (let i = 0; i < pods; i++) {
      const ns = bed.newNetns();
      const env = { CNI_NETNS: `/run/netns/${ns}`, CNI_ARGS: 'IgnoreUnknown=1', CNI_CONTAINERID: `direct-${i}` };
      filled.push({ ns, env });
      ms.push(
        timeDirect(bed.direct, 'ADD', (plugin, ifname, conf) =>
          bed.cni(plugin, 'ADD', { ...env, CNI_IFNAME: ifname }, conf),
        ),
      );
    }
  } finally {
    for (const { ns, env } of filled.reverse()) {
      timeDirect(bed.direct, 'DEL', (plugin, ifname, conf) =>
        bed.cni(plugin, 'DEL', { ...env, CNI_IFNAME: ifname }, conf),
      );
      bed.dropNetns(ns);
    }
  }
  return ms;
}

try {
  if (!fs.existsSync(hostBraid)) throw new Error(`${hostBraid} is missing: run npm run build && npm run build:sea`);
  bed.writePolicy('mv1-from-clients', serverPolicy());
  const agent = await bed.startAgent();
  const added: { ns: string; env: Record<string, string> }[] = [];
  const addMs: number[] = [];
  const addBraidMs: number[] = [];
  const addCpuTicks: number[] = [];
  // The agent's own CPU time (utime + stime, clock ticks): what braid computes, whatever else the shared machine runs.
  const cpuTicks = () =>
    fs
      .readFileSync(`/proc/${agent.pid}/stat`, 'utf8')
      .split(') ')[1]!
      .split(' ')
      .slice(11, 13)
      .reduce((s, x) => s + Number(x), 0);
  const delMs: number[] = [];
  try {
    for (let i = 0; i < pods; i++) {
      const ns = bed.newNetns();
      const env = {
        CNI_NETNS: `/run/netns/${ns}`,
        CNI_ARGS: bed.writePod(`fill-${i}`, { app: 'selected' }),
        CNI_IFNAME: 'eth0',
        CNI_CONTAINERID: `fill-${i}`,
      };
      const before = await braidSeconds('ADD');
      const ticks = cpuTicks();
      addMs.push(bed.cni(hostBraid, 'ADD', env, bed.conf(bed.socket)));
      addCpuTicks.push(cpuTicks() - ticks);
      addBraidMs.push(1000 * ((await braidSeconds('ADD')) - before));
      added.push({ ns, env });
    }
    for (const { ns, env } of added.reverse()) {
      delMs.push(bed.cni(hostBraid, 'DEL', env, bed.conf(bed.socket)));
      bed.dropNetns(ns);
    }
  } finally {
    await agent.stop();
  }
  const first = median(addMs.slice(0, 20));
  const last = median(addMs.slice(-20));
  console.log(
    `fill one node with ${pods} pods through braid-agent (bridge + 3 macvlan, policy on, a policy selects every pod on mv1)`,
  );
  console.log(
    `ADD median, first 20 pods: ${first.toFixed(1)} ms; last 20 pods: ${last.toFixed(1)} ms; ratio last/first ${(last / first).toFixed(2)}`,
  );
  const [bFirst, bLast] = [median(addBraidMs.slice(0, 20)), median(addBraidMs.slice(-20))];
  console.log(
    `  of which braid itself in the agent (request minus delegates): first 20 ${bFirst.toFixed(1)} ms; last 20 ${bLast.toFixed(1)} ms; ratio ${(bLast / bFirst).toFixed(2)}`,
  );
  // What is left is the delegates' own run (and the front door): it grows with the node's devices
  // (a bridge with more ports, more macvlans on one master), with or without braid.
  const delegatesMs = addMs.map((ms, i) => ms - addBraidMs[i]!);
  const [dFirst, dLast] = [median(delegatesMs.slice(0, 20)), median(delegatesMs.slice(-20))];
  console.log(
    `  the rest, the delegates' own run: first 20 ${dFirst.toFixed(1)} ms; last 20 ${dLast.toFixed(1)} ms; ratio ${(dLast / dFirst).toFixed(2)}`,
  );
  const cpu = (xs: number[]) => (xs.reduce((s, x) => s + x, 0) * 10) / xs.length;
  const [cFirst, cLast] = [cpu(addCpuTicks.slice(0, 20)), cpu(addCpuTicks.slice(-20))];
  console.log(
    `  agent CPU time per ADD (mean over 20, 10 ms ticks): first 20 ${cFirst.toFixed(1)} ms; last 20 ${cLast.toFixed(1)} ms; ratio ${(cLast / cFirst).toFixed(2)}`,
  );
  console.log(`DEL median: ${median(delMs).toFixed(1)} ms`);
  const leases = filesUnder(path.join(bed.tmp, 'ipam')).filter((f) => !/(lock|last_reserved_ip\.\d+)$/.test(f));
  const cache = filesUnder(path.join(bed.tmp, 'cache')).filter(
    (f) => f.endsWith('.json') && !f.includes('/versions/') && !f.includes('/manifests/'),
  );
  const links = filesUnder(path.join(bed.bpfRoot, 'mnp', 'links'));
  console.log(
    `left after DEL: ${cache.length} cache/policy records, ${links.length} pinned links, ${leases.length} IP reservations`,
  );
  for (const f of [...cache, ...links, ...leases].slice(0, 10)) console.log(`  left: ${f}`);
  const control = directFill();
  const [kFirst, kLast] = [median(control.slice(0, 20)), median(control.slice(-20))];
  console.log(
    `control, the same fill with the four delegates called directly (no braid): first 20 ${kFirst.toFixed(1)} ms; last 20 ${kLast.toFixed(1)} ms; ratio ${(kLast / kFirst).toFixed(2)}`,
  );
} finally {
  bed.cleanup();
}
