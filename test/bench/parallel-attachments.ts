/**
 * `parallelAttachments: true` against the default (one attachment at a time), through the native
 * front door (dist/host/braid) with braid's defaults (policy on), side by side in one run:
 *   - the bench pod (a bridge cluster network plus three macvlan networks), with braid-agent and
 *     thin (no agent), ADD and DEL;
 *   - the same pod whose three macvlan networks each chain a `slowstep` plugin that sleeps 100 ms
 *     on ADD and DEL (a stand-in for delegates that wait on something, such as a cloud ENI attach,
 *     Multus #1016), with the agent.
 * The four delegates called directly are the floor. Medians in ms and the parallel/sequential
 * ratios. The agent is started as outside benchmarks start it (dist/sea/braid-agent, else
 * dist/bin/braid-agent, --socket S --cache-dir C --metrics-address off) with a pin root and policy
 * dir of its own. Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/parallel-attachments.ts [pods=20]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';
import { makeBenchNode } from './bench-node.ts';
import { benchPodConfs, timeDirect } from './bench-pod.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const front = path.join(root, 'dist/host/braid');
const seaAgent = path.join(root, 'dist/sea/braid-agent');
const agentBin = fs.existsSync(seaAgent) ? seaAgent : path.join(root, 'dist/bin/braid-agent');
const pods = Number(process.argv[2] ?? 20);
const slowBin = path.join(os.tmpdir(), `braid-bench-slowbin-${process.pid}`);
const node = makeBenchNode({ extraCniPath: slowBin });
const { socket, cni } = node;

/** A chained plugin that sleeps 100 ms on ADD and DEL and passes prevResult on. */
function writeSlowStep(): void {
  fs.mkdirSync(slowBin, { recursive: true });
  fs.writeFileSync(
    path.join(slowBin, 'slowstep'),
    `#!/bin/sh
conf=$(cat)
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;
ADD) sleep 0.1; printf '%s' "$conf" | jq -c '.prevResult';;
DEL) sleep 0.1;;
esac
`,
    { mode: 0o755 },
  );
}

/** The slow NADs (each macvlan network chained with `slowstep`) and their pod, beside the bench pod. */
function setUpSlowPod(): void {
  for (const i of [1, 2, 3]) {
    const { cniVersion, name, ...plugin } = benchPodConfs(node.tmp).macvlanConf(i + 3);
    node.writeNad(`slow${i}`, { cniVersion, name, plugins: [plugin, { type: 'slowstep' }] });
  }
  node.writePod('slowpod', 'slow1,slow2,slow3');
}

const leftovers = () =>
  fs.existsSync(path.join(node.tmp, 'cache'))
    ? fs.readdirSync(path.join(node.tmp, 'cache')).filter((f) => f.endsWith('.json'))
    : [];

async function run(): Promise<void> {
  if (!fs.existsSync(front)) throw new Error(`${front} is missing: run npm run build`);
  writeSlowStep();
  setUpSlowPod();
  const base = node.baseConf;
  const noAgent = path.join(node.tmp, 'no-agent', 'braid.sock');
  const confs = {
    agentSeq: JSON.stringify({ ...base, agentSocket: socket }),
    agentPar: JSON.stringify({ ...base, agentSocket: socket, parallelAttachments: true }),
    thinSeq: JSON.stringify({ ...base, agentSocket: noAgent }),
    thinPar: JSON.stringify({ ...base, agentSocket: noAgent, parallelAttachments: true }),
  };
  const agent = await node.startAgent(agentBin);
  const t: Record<string, number[]> = {};
  const record = (key: string, ms: number) => (t[key] ??= []).push(ms);
  const rows: [string, keyof typeof confs, string][] = [
    ['agent, sequential (default)', 'agentSeq', 'pod'],
    ['agent, parallelAttachments', 'agentPar', 'pod'],
    ['thin, sequential (default)', 'thinSeq', 'pod'],
    ['thin, parallelAttachments', 'thinPar', 'pod'],
    ['agent, 100 ms step, sequential', 'agentSeq', 'slowpod'],
    ['agent, 100 ms step, parallel', 'agentPar', 'slowpod'],
  ];
  for (let i = 0; i < pods + 2; i++) {
    const ns = node.podNetns();
    const b = { CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0' };
    const runs: [string, number, number][] = rows.map(([label, conf, pod], r) => {
      const e = {
        ...b,
        CNI_CONTAINERID: `c${i}-${r}`,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${pod}`,
      };
      return [label, cni(front, 'ADD', e, confs[conf]), cni(front, 'DEL', e, confs[conf])];
    });
    const direct = (verb: 'ADD' | 'DEL') =>
      timeDirect(node.direct, verb, (plugin, ifname, conf) =>
        cni(plugin, verb, { ...b, CNI_CONTAINERID: `d${i}`, CNI_IFNAME: ifname }, conf),
      );
    const [da, dd] = [direct('ADD'), direct('DEL')];
    if (i < 2) continue; // warm-up: page cache, compile cache, plugin-version cache
    for (const [label, add, del] of runs) {
      record(`${label} ADD`, add);
      record(`${label} DEL`, del);
    }
    record('direct ADD', da);
    record('direct DEL', dd);
  }
  await agent.stop();
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(
    `parallelAttachments through dist/host/braid, defaults (policy on): bridge + 3 macvlan, ${pods} pods, medians in ms`,
  );
  console.log(`${'path'.padEnd(34)}     ADD      DEL   parallel/sequential ADD  DEL`);
  console.log(
    `${'the four delegates directly'.padEnd(34)}${f(median(t['direct ADD']!))} ${f(median(t['direct DEL']!))}`,
  );
  for (let r = 0; r < rows.length; r += 2) {
    const [seq, par] = [rows[r]![0], rows[r + 1]![0]];
    const m = (label: string, verb: string) => median(t[`${label} ${verb}`]!);
    console.log(`${seq.padEnd(34)}${f(m(seq, 'ADD'))} ${f(m(seq, 'DEL'))}`);
    console.log(
      `${par.padEnd(34)}${f(m(par, 'ADD'))} ${f(m(par, 'DEL'))}                    ${(m(par, 'ADD') / m(seq, 'ADD')).toFixed(2)}  ${(m(par, 'DEL') / m(seq, 'DEL')).toFixed(2)}`,
    );
  }
  console.log(`left behind: ${leftovers().length} cache records`);
  console.log('(the machine is shared: absolute times are noisy; compare the ratios of this one run)');
}

try {
  await run();
} finally {
  node.cleanup();
  fs.rmSync(slowBin, { recursive: true, force: true });
}
