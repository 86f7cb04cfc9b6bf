/**
 * braid through its native front door (dist/host/braid), with braid's defaults (policy on), side
 * by side with the delegates alone: the issue's pod (a bridge cluster network plus three macvlan
 * networks), ADD and DEL, for every pod
 *   (1) the four delegates called directly,
 *   (2) dist/host/braid handing the call to braid-agent,
 *   (3) dist/host/braid with no agent (its socket is not there): thin mode, the Node implementation,
 *   (4) for comparison, dist/sea/braid (the Node implementation called directly, as before the
 *       front door) handing the call to the same agent: what the front door saves per call.
 * Then a burst of pods at once through the front door and the agent: all must succeed; wall time,
 * the agent's peak RSS, and the summed peak RSS of the front-door processes (each run under
 * /usr/bin/time, which reports the child's ru_maxrss), and what DEL leaves. Also the front door's
 * own start and hand-over (VERSION answered by the agent) against spawning /bin/true, and the Node
 * implementation answering VERSION itself: Node's start, the floor of a thin call's overhead.
 *
 * The agent is started the way benchmarks outside the project start it: dist/sea/braid-agent
 * (dist/bin/braid-agent without `npm run build:sea`) --socket S --cache-dir C --metrics-address off,
 * plus a pin root and policy dir of its own. Everything runs in network namespaces and temp dirs of
 * its own; pins go under a fresh directory of /sys/fs/bpf. Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/front-door.ts [pods=30] [burst=100]
 * BENCH_THIN_BEFORE=<dir> adds a row: the front door <dir>/braid (another build's host layout, e.g.
 * a copy of an earlier dist/host) with no agent, so two builds' thin overheads compare in one run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-tools.ts';
import { makeBenchNode } from './bench-node.ts';
import { timeDirect } from './bench-pod.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const front = path.join(root, 'dist/host/braid');
const seaAgent = path.join(root, 'dist/sea/braid-agent');
const agentBin = fs.existsSync(seaAgent) ? seaAgent : path.join(root, 'dist/bin/braid-agent');
const nodeBraid = fs.existsSync(path.join(root, 'dist/sea/braid'))
  ? path.join(root, 'dist/sea/braid')
  : path.join(root, 'dist/bin/braid');
const thinBefore = process.env.BENCH_THIN_BEFORE ? path.resolve(process.env.BENCH_THIN_BEFORE, 'braid') : undefined;
const pods = Number(process.argv[2] ?? 30);
const burst = Number(process.argv[3] ?? 100);
const node = makeBenchNode();
const { nodeNs, tmp, socket, cni, env } = node;
const ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod';

/** A front-door call under /usr/bin/time, without blocking: wall ms and the process's peak RSS in KiB. */
interface FrontRun {
  ms: number;
  peakKiB: number;
  /** Why the front door did the call thin (its stderr line), if it did. */
  thin?: string;
}

function frontAsync(command: string, extra: Record<string, string>, conf: string): Promise<FrontRun> {
  const start = process.hrtime.bigint();
  const rusage = path.join(tmp, `rusage-${randomBytes(6).toString('hex')}`);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/run/netns/${nodeNs}`, '/usr/bin/time', '-f', '%M', '-o', rusage, front], {
      env: env(command, extra),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) return reject(new Error(`${command}: ${out} ${err}`));
      const thin = /^braid: .*doing the work in this process$/m.exec(err)?.[0];
      resolve({
        ms,
        peakKiB: Number(fs.readFileSync(rusage, 'utf8').trim().split('\n').pop()),
        ...(thin ? { thin } : {}),
      });
    });
    child.stdin.end(conf);
  });
}

const statusKiB = (pid: number, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const mib = (kib: number) => (kib / 1024).toFixed(1);
const leases = () =>
  fs.existsSync(path.join(tmp, 'ipam'))
    ? fs.readdirSync(path.join(tmp, 'ipam'), { recursive: true, encoding: 'utf8' }).filter((f) => /\/[\d.]+$/.test(f))
        .length
    : 0;
const cacheRecords = () =>
  fs.existsSync(path.join(tmp, 'cache'))
    ? fs.readdirSync(path.join(tmp, 'cache')).filter((f) => f.endsWith('.json')).length
    : 0;

async function run(): Promise<void> {
  for (const f of [front, path.join(root, 'dist/host/braid-node')])
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: run npm run build`);
  const base = node.baseConf;
  const agentConf = JSON.stringify({ ...base, agentSocket: socket });
  const thinConf = JSON.stringify({ ...base, agentSocket: path.join(tmp, 'no-agent', 'braid.sock') });
  const agent = await node.startAgent(agentBin);
  const t: Record<string, number[]> = {};
  const record = (key: string, ms: number) => (t[key] ??= []).push(ms);
  for (let i = 0; i < pods + 2; i++) {
    const pod = node.podNetns();
    const b = { CNI_NETNS: `/run/netns/${pod}`, CNI_ARGS: ARGS, CNI_IFNAME: 'eth0' };
    const agentAdd = cni(front, 'ADD', { ...b, CNI_CONTAINERID: `a${i}` }, agentConf);
    const agentDel = cni(front, 'DEL', { ...b, CNI_CONTAINERID: `a${i}` }, agentConf);
    const thinAdd = cni(front, 'ADD', { ...b, CNI_CONTAINERID: `t${i}` }, thinConf);
    const thinDel = cni(front, 'DEL', { ...b, CNI_CONTAINERID: `t${i}` }, thinConf);
    const beforeAdd = thinBefore ? cni(thinBefore, 'ADD', { ...b, CNI_CONTAINERID: `b${i}` }, thinConf) : 0;
    const beforeDel = thinBefore ? cni(thinBefore, 'DEL', { ...b, CNI_CONTAINERID: `b${i}` }, thinConf) : 0;
    const nodeAdd = cni(nodeBraid, 'ADD', { ...b, CNI_CONTAINERID: `n${i}` }, agentConf);
    const nodeDel = cni(nodeBraid, 'DEL', { ...b, CNI_CONTAINERID: `n${i}` }, agentConf);
    const direct = (verb: 'ADD' | 'DEL') =>
      timeDirect(node.direct, verb, (plugin, ifname, conf) =>
        cni(plugin, verb, { ...b, CNI_CONTAINERID: `d${i}`, CNI_IFNAME: ifname }, conf),
      );
    const [da, dd] = [direct('ADD'), direct('DEL')];
    if (i < 2) continue; // warm-up: page cache, compile cache, plugin-version cache
    record('agentAdd', agentAdd);
    record('agentDel', agentDel);
    record('thinAdd', thinAdd);
    record('thinDel', thinDel);
    if (thinBefore) record('beforeAdd', beforeAdd);
    if (thinBefore) record('beforeDel', beforeDel);
    record('nodeAdd', nodeAdd);
    record('nodeDel', nodeDel);
    record('directAdd', da);
    record('directDel', dd);
  }
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(
    `braid through dist/host/braid, defaults (policy on): bridge + 3 macvlan, ${pods} pods, medians in ms (agent: ${path.relative(root, agentBin)})`,
  );
  console.log(`${'path'.padEnd(38)}    ADD      DEL   ADD overhead  DEL overhead   ADD ratio  DEL ratio`);
  const dAdd = median(t.directAdd!);
  const dDel = median(t.directDel!);
  console.log(
    `${'the four delegates directly'.padEnd(38)}${f(dAdd)}  ${f(dDel)}          -             -           1.00       1.00`,
  );
  const rows = [
    ['dist/host/braid with the agent', 'agent'],
    ['dist/host/braid, no agent (thin)', 'thin'],
    ...(thinBefore ? [[`${process.env.BENCH_THIN_BEFORE}/braid, no agent (thin)`, 'before'] as const] : []),
    [`${path.relative(root, nodeBraid)} (Node) with the agent`, 'node'],
  ] as const;
  for (const [label, key] of rows) {
    const add = median(t[`${key}Add`]!);
    const del = median(t[`${key}Del`]!);
    console.log(
      `${label.padEnd(38)}${f(add)}  ${f(del)}      ${f(add - dAdd)}       ${f(del - dDel)}       ${(add / dAdd).toFixed(2).padStart(5)}      ${(del / dDel).toFixed(2).padStart(5)}`,
    );
  }

  // The front door's own start and hand-over: VERSION answered by the agent, against spawning
  // /bin/true; and the floor of every thin call: the Node implementation answering VERSION itself.
  const version = JSON.stringify({ cniVersion: '1.0.0', agentSocket: socket });
  const timed = (file: string) => {
    const s = process.hrtime.bigint();
    const r = spawnSync(file, { input: version, env: env('VERSION', {}) });
    if (r.status !== 0) throw new Error(`${file} VERSION: ${r.stdout.toString()} ${r.stderr.toString()}`);
    return Number(process.hrtime.bigint() - s) / 1e6;
  };
  const tv: number[] = [];
  const tt: number[] = [];
  const tn: number[] = [];
  for (let i = 0; i < 50; i++) {
    tv.push(timed(front));
    tt.push(timed('/bin/true'));
    tn.push(timed(nodeBraid));
  }
  console.log(
    `front door VERSION through the agent: median ${median(tv).toFixed(2)} ms; spawning /bin/true: ${median(tt).toFixed(2)} ms`,
  );
  const floor = median(tn);
  console.log(
    `${path.relative(root, nodeBraid)} VERSION, no agent (Node's start and exit, which every thin call pays): median ${floor.toFixed(1)} ms; ` +
      `thin overhead beyond it: ADD ${(median(t.thinAdd!) - dAdd - floor).toFixed(1)}, DEL ${(median(t.thinDel!) - dDel - floor).toFixed(1)} ms`,
  );

  // The burst: `burst` pods at once, each its own front-door process, all handed to the agent.
  const burstPods = Array.from({ length: burst }, () => node.podNetns());
  const idle = statusKiB(agent.pid, 'VmRSS');
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, statusKiB(agent.pid, 'VmRSS'))), 10);
  const started = Date.now();
  const adds = await Promise.allSettled(
    burstPods.map((p, i) =>
      frontAsync(
        'ADD',
        { CNI_NETNS: `/run/netns/${p}`, CNI_ARGS: ARGS, CNI_IFNAME: 'eth0', CNI_CONTAINERID: `burst${i}` },
        agentConf,
      ),
    ),
  );
  const wall = Date.now() - started;
  clearInterval(sampler);
  const ok = adds.filter((a): a is PromiseFulfilledResult<FrontRun> => a.status === 'fulfilled').map((a) => a.value);
  const thinRuns = ok.filter((a) => a.thin !== undefined);
  const failed = adds.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
  const hwm = statusKiB(agent.pid, 'VmHWM');
  const sum = ok.reduce((s, a) => s + a.peakKiB, 0);
  console.log(
    `burst of ${burst} ADDs at once through dist/host/braid and the agent: ${ok.length} succeeded, ${failed.length} failed; wall ${wall} ms; ADD median ${median(ok.map((a) => a.ms)).toFixed(0)} ms`,
  );
  if (failed.length > 0) console.log(`  first failure: ${String(failed[0]!.reason).slice(0, 400)}`);
  console.log(
    `  handed to the agent: ${ok.length - thinRuns.length}; done thin by the Node implementation: ${thinRuns.length}${thinRuns.length ? ` (first: ${thinRuns[0]!.thin})` : ''}`,
  );
  console.log(
    `agent RSS: idle ${mib(idle)} MiB, peak during the burst ${mib(peak)} MiB (VmHWM over its life ${mib(hwm)} MiB)`,
  );
  console.log(
    `front-door processes: peak RSS summed over the ${ok.length} ${mib(sum)} MiB (median ${(median(ok.map((a) => a.peakKiB)) / 1024).toFixed(2)} MiB, max ${mib(Math.max(...ok.map((a) => a.peakKiB)))} MiB each)`,
  );
  const dels = await Promise.allSettled(
    burstPods.map((p, i) =>
      frontAsync(
        'DEL',
        { CNI_NETNS: `/run/netns/${p}`, CNI_ARGS: ARGS, CNI_IFNAME: 'eth0', CNI_CONTAINERID: `burst${i}` },
        agentConf,
      ),
    ),
  );
  console.log(
    `DEL of the burst: ${dels.filter((d) => d.status === 'fulfilled').length} succeeded; left behind: ${cacheRecords()} cache records, ${leases()} IP reservations`,
  );
  // For scale: one thin call (the Node implementation) under the same measure.
  const thinPod = node.podNetns();
  const thin = await frontAsync(
    'ADD',
    { CNI_NETNS: `/run/netns/${thinPod}`, CNI_ARGS: ARGS, CNI_IFNAME: 'eth0', CNI_CONTAINERID: 'thin-rss' },
    thinConf,
  );
  await frontAsync(
    'DEL',
    { CNI_NETNS: `/run/netns/${thinPod}`, CNI_ARGS: ARGS, CNI_IFNAME: 'eth0', CNI_CONTAINERID: 'thin-rss' },
    thinConf,
  );
  console.log(
    `for scale, one thin ADD (front door exec'ing the Node implementation) peaks at ${mib(thin.peakKiB)} MiB`,
  );
  await agent.stop();
  console.log('(the machine is shared: absolute times are noisy; compare the ratios and overheads of this one run)');
}

try {
  await run();
} finally {
  node.cleanup();
}
