/**
 * braid's overhead per pod, thin mode and agent mode side by side with the delegates' own time:
 * the core issue's pod (a bridge cluster network plus three macvlan networks), ADD and DEL
 * (1) through `braid` doing the work itself, (2) through `braid` handing the call to braid-agent,
 * (3) the four delegates called directly. For agent mode it also splits the time: inside the
 * agent (from its metrics: request time minus its delegates' run time) and outside it (the
 * `braid` process starting and handing over). `braid` runs both as built for this checkout (the
 * dist/bin launcher on Node 24) and as the single executable the host gets (dist/sea/braid, from
 * `npm run build:sea`), side by side in the same iterations. Then a burst of 50 pods at once through the agent,
 * with the agent's resident memory sampled throughout.
 * Runs in network namespaces of its own; the host is not touched. Usage (root, `npm run build`):
 *   node --experimental-transform-types test/bench/agent-overhead.ts [iterations] [burst]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';
import { makeBenchNode } from './bench-node.ts';
import { timeDirect } from './bench-pod.ts';
import { sampleOf, getOverSocket } from '../integration/agent-testbed.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const braid = path.join(root, 'dist/bin/braid');
const seaBraid = path.join(root, 'dist/sea/braid');
const agentBin = path.join(root, 'dist/bin/braid-agent');
const iterations = Number(process.argv[2] ?? 30);
const burst = Number(process.argv[3] ?? 50);
const node = makeBenchNode();
const { nodeNs, socket, cni, env } = node;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
/** The same, without blocking: for the burst. */
function cniAsync(command: string, extra: Record<string, string>, conf: string): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/run/netns/${nodeNs}`, braid], {
      env: env(command, extra),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(Number(process.hrtime.bigint() - start) / 1e6) : reject(new Error(`${command}: ${out}`)),
    );
    child.stdin.end(conf);
  });
}

const rss = (pid: number) =>
  Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const metrics = async () => (await getOverSocket(socket, '/metrics')).body;
function delegateSeconds(text: string, verb: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith('braid_delegate_duration_seconds_sum{') && l.includes(`verb="${verb}"`))
    .reduce((s, l) => s + Number(l.split(' ')[1]), 0);
}

async function run(): Promise<void> {
  if (!fs.existsSync(seaBraid)) throw new Error(`${seaBraid} is missing: run npm run build:sea`);
  const base = node.baseConf;
  const thinConf = JSON.stringify({ ...base, agentSocket: '' });
  const agentConf = JSON.stringify({ ...base, agentSocket: socket });
  const agent = await node.startAgent(agentBin, {
    NODE_OPTIONS: '--max-semi-space-size=1 --max-old-space-size=384',
    BRAID_TRACE: process.env.BRAID_TRACE ?? '',
  });
  await new Promise((r) => setTimeout(r, 1_000));
  const idleRss = rss(agent.pid);
  const t: Record<string, number[]> = {};
  const record = (key: string, ms: number) => (t[key] ??= []).push(ms);
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod';
  for (let i = 0; i < iterations + 2; i++) {
    const pod = node.podNetns();
    try {
      const b = { CNI_NETNS: `/run/netns/${pod}`, CNI_ARGS: args, CNI_IFNAME: 'eth0' };
      const thinAdd = cni(braid, 'ADD', { ...b, CNI_CONTAINERID: `t${i}` }, thinConf);
      const thinDel = cni(braid, 'DEL', { ...b, CNI_CONTAINERID: `t${i}` }, thinConf);
      const seaThinAdd = cni(seaBraid, 'ADD', { ...b, CNI_CONTAINERID: `st${i}` }, thinConf);
      const seaThinDel = cni(seaBraid, 'DEL', { ...b, CNI_CONTAINERID: `st${i}` }, thinConf);
      const seaAgentAdd = cni(seaBraid, 'ADD', { ...b, CNI_CONTAINERID: `sa${i}` }, agentConf);
      const seaAgentDel = cni(seaBraid, 'DEL', { ...b, CNI_CONTAINERID: `sa${i}` }, agentConf);
      const m0 = await metrics();
      const agentAdd = cni(braid, 'ADD', { ...b, CNI_CONTAINERID: `a${i}` }, agentConf);
      const m1 = await metrics();
      const agentDel = cni(braid, 'DEL', { ...b, CNI_CONTAINERID: `a${i}` }, agentConf);
      const m2 = await metrics();
      const inside = (before: string, after: string, verb: string) =>
        1000 *
        (sampleOf(after, `braid_agent_request_duration_seconds_sum{verb="${verb}"}`)! -
          (sampleOf(before, `braid_agent_request_duration_seconds_sum{verb="${verb}"}`) ?? 0) -
          (delegateSeconds(after, verb) - delegateSeconds(before, verb)));
      const direct = (verb: 'ADD' | 'DEL') =>
        timeDirect(node.direct, verb, (plugin, ifname, conf) =>
          cni(plugin, verb, { ...b, CNI_CONTAINERID: `d${i}`, CNI_IFNAME: ifname }, conf),
        );
      const [da, dd] = [direct('ADD'), direct('DEL')];
      if (i < 2) continue; // warm-up: page cache, compile cache, plugin-version cache
      record('thinAdd', thinAdd);
      record('thinDel', thinDel);
      record('agentAdd', agentAdd);
      record('agentDel', agentDel);
      record('seaThinAdd', seaThinAdd);
      record('seaThinDel', seaThinDel);
      record('seaAgentAdd', seaAgentAdd);
      record('seaAgentDel', seaAgentDel);
      record('directAdd', da);
      record('directDel', dd);
      record('insideAdd', inside(m0, m1, 'ADD'));
      record('insideDel', inside(m1, m2, 'DEL'));
      record('agentDelegatesAdd', 1000 * (delegateSeconds(m1, 'ADD') - delegateSeconds(m0, 'ADD')));
      record('agentDelegatesDel', 1000 * (delegateSeconds(m2, 'DEL') - delegateSeconds(m1, 'DEL')));
    } finally {
      node.dropNetns(pod);
    }
  }
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`braid overhead: bridge + 3 macvlan, ${iterations} pods, medians in ms`);
  console.log('verb  mode   braid binary         braid  delegates  overhead  (inside agent: braid, delegates)');
  const rows: [string, string, string][] = [
    ['thin', 'launcher (Node 24)', 'thin'],
    ['thin', 'single executable', 'seaThin'],
    ['agent', 'launcher (Node 24)', 'agent'],
    ['agent', 'single executable', 'seaAgent'],
  ];
  for (const verb of ['Add', 'Del'] as const) {
    const dlg = median(t[`direct${verb}`]!);
    for (const [mode, binary, key] of rows) {
      const total = median(t[`${key}${verb}`]!);
      const inAgent =
        mode === 'agent' && key === 'agent'
          ? `${f(median(t[`inside${verb}`]!))} ${f(median(t[`agentDelegates${verb}`]!))}`
          : '';
      console.log(
        `${verb.toUpperCase().padEnd(5)} ${mode.padEnd(6)} ${binary.padEnd(19)} ${f(total)}    ${f(dlg)}   ${f(total - dlg)}  ${inAgent}`,
      );
    }
  }

  // The burst: `burst` pods at once, each its own braid process, all handed to the agent.
  const pods = Array.from({ length: burst }, () => node.podNetns());
  let peak = rss(agent.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rss(agent.pid))), 20);
  const started = Date.now();
  const addTimes = await Promise.all(
    pods.map((p, i) =>
      cniAsync(
        'ADD',
        { CNI_NETNS: `/run/netns/${p}`, CNI_ARGS: args, CNI_IFNAME: 'eth0', CNI_CONTAINERID: `burst${i}` },
        agentConf,
      ),
    ),
  );
  const burstMs = Date.now() - started;
  const burstPeak = peak;
  const delTimes = await Promise.all(
    pods.map((p, i) =>
      cniAsync(
        'DEL',
        { CNI_NETNS: `/run/netns/${p}`, CNI_ARGS: args, CNI_IFNAME: 'eth0', CNI_CONTAINERID: `burst${i}` },
        agentConf,
      ),
    ),
  );
  clearInterval(sampler);
  for (const p of pods) node.dropNetns(p);
  const after = rss(agent.pid);
  const queued = sampleOf(await metrics(), 'braid_agent_request_queue_seconds_sum{verb="ADD"}');
  await agent.stop();
  console.log(
    `burst of ${burst} pods at once through the agent (--max-concurrent 8): all ADDs done in ${burstMs} ms; ` +
      `ADD median ${median(addTimes).toFixed(0)} ms, p95 ${pct(addTimes, 95).toFixed(0)} ms, max ${Math.max(...addTimes).toFixed(0)} ms; DEL median ${median(delTimes).toFixed(0)} ms; ` +
      `time queued in total ${queued?.toFixed(1)} s`,
  );
  console.log(
    `agent RSS: idle ${idleRss.toFixed(1)} MiB, peak during the burst ${burstPeak.toFixed(1)} MiB, after ${after.toFixed(1)} MiB`,
  );
}

try {
  await run();
} finally {
  node.cleanup();
}
