/**
 * What the Kubernetes path costs one pod ADD (issue 3): a pod with a bridge cluster network and
 * three macvlan NADs, ADD and DEL through braid with pods and NADs served by the fake API server,
 * next to the same pod on the embedded default (local pod store + NAD directory), in one run,
 * alternating. Prints the API requests of every ADD and DEL by kind (goal: at most one pod GET,
 * one GET per distinct NAD, one status write; DEL none) and the median latencies. braid runs in a
 * network namespace of its own (the "node"), which reaches the API through kube-fixture's gateway.
 * Usage (root, after `npm run build`):
 *   node --experimental-transform-types test/bench/k8s-add.ts [iterations]
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mustRun, runCommand } from '../helpers/exec.ts';
import { FakeApiServer, type RecordedRequest } from '../helpers/fake-apiserver.ts';
import {
  bridgeConflist,
  countByKind,
  macvlanConf,
  openNetnsGateway,
  requestKind,
  type RequestKind,
} from '../helpers/kube-fixture.ts';
import { median } from './bench-tools.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const braid = path.join(root, 'dist/bin/braid');
const PLUGINS = '/usr/lib/cni';
const iterations = Number(process.argv[2] ?? 30);
const WARM_UP = 2;
const suffix = randomBytes(3).toString('hex');
const nodeNs = `braid-b-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-bench-'));
// braid's defaults (policy on), with the pins under a pin root of the bench's own.
const pinRoot = `/sys/fs/bpf/braid-bench-${suffix}`;
const NAMESPACE = 'bench';
const NADS = ['mv1', 'mv2', 'mv3'];
const KINDS: RequestKind[] = ['pod GET', 'NAD GET', 'status PATCH', 'event POST', 'other'];

/** One braid call inside the node namespace; its wall time in ms. Async: the gateway lives on this event loop. */
async function cni(command: string, env: Record<string, string>, conf: string): Promise<number> {
  const start = performance.now();
  const r = await runCommand(['nsenter', `--net=/run/netns/${nodeNs}`, braid], {
    input: conf,
    env: { PATH: process.env.PATH ?? '', CNI_COMMAND: command, CNI_PATH: PLUGINS, ...env },
  });
  if (r.code !== 0) throw new Error(`braid ${command} failed: ${r.stdout} ${r.stderr}`);
  return performance.now() - start;
}

interface Bed {
  api: FakeApiServer;
  closeGateway: () => Promise<void>;
  localConf: string;
  kubeConf: string;
}

async function setUp(): Promise<Bed> {
  await mustRun(['ip', 'netns', 'add', nodeNs]);
  const ip = (...args: string[]) => mustRun(['ip', '-n', nodeNs, ...args]);
  await ip('link', 'set', 'lo', 'up');
  await ip('link', 'add', 'mvmaster0', 'type', 'veth', 'peer', 'name', 'mvpeer0');
  await ip('link', 'set', 'mvmaster0', 'up');
  await ip('link', 'set', 'mvpeer0', 'up');
  const dir = (name: string) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  const [confDir, nadDir, ipamDir] = [dir('conf'), dir('nads'), dir('ipam')];
  const clusterFile = path.join(confDir, '10-cluster.conflist');
  fs.writeFileSync(
    clusterFile,
    JSON.stringify(bridgeConflist('bench-cluster', 'benchbr0', '10.77.0.0/16', '10.77.0.1', ipamDir)),
  );
  const nadConf = (i: number) => JSON.stringify(macvlanConf(NADS[i]!, 'mvmaster0', `10.78.${i + 1}.0/24`, ipamDir));

  const annotations = { 'k8s.v1.cni.cncf.io/networks': NADS.join(',') };
  NADS.forEach((name, i) =>
    fs.writeFileSync(
      path.join(nadDir, `${name}.yaml`),
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: ${name}\n  namespace: ${NAMESPACE}\nspec:\n  config: '${nadConf(i)}'\n`,
    ),
  );
  fs.writeFileSync(
    path.join(dir(`pods/${NAMESPACE}`), 'pod.yaml'),
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\n  namespace: ${NAMESPACE}\n  annotations:\n    k8s.v1.cni.cncf.io/networks: ${annotations['k8s.v1.cni.cncf.io/networks']}\n`,
  );

  const api = await FakeApiServer.start();
  // When each request arrived, to split an ADD into time before the first request and time among them.
  const log = api.requests as (RecordedRequest & { at?: number })[];
  log.push = (...items) =>
    Array.prototype.push.apply(
      log,
      items.map((r) => Object.assign(r, { at: performance.now() })),
    );
  api.setPod({ namespace: NAMESPACE, name: 'pod', annotations });
  NADS.forEach((name, i) => api.setNad(NAMESPACE, name, nadConf(i)));
  const apiPort = Number(new URL(api.url).port);
  const gateway = await openNetnsGateway(`/run/netns/${nodeNs}`, () => apiPort);
  const kubeconfig = path.join(tmp, 'braid.kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'bench', cluster: { server: `http://127.0.0.1:${gateway.port}` } }],
      users: [{ name: 'braid', user: {} }],
      contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'braid' } }],
      'current-context': 'bench',
    }),
  );
  const base = {
    cniVersion: '1.0.0',
    name: 'braid-bench',
    type: 'braid',
    clusterNetwork: clusterFile,
    confDir,
    cniDir: path.join(tmp, 'cache'),
    binDir: PLUGINS,
    nadDir,
    podDir: path.join(tmp, 'pods'),
    policy: { bpfRoot: pinRoot, policyDir: path.join(tmp, 'policies') },
  };
  return {
    api,
    closeGateway: () => gateway.close(),
    localConf: JSON.stringify(base),
    // An empty nadDir: every NAD must come from the API.
    kubeConf: JSON.stringify({ ...base, kubeconfig, nadDir: dir('no-nads') }),
  };
}

async function tearDown(bed: Bed | undefined): Promise<void> {
  await bed?.closeGateway();
  await bed?.api.close();
  await runCommand(['ip', 'netns', 'del', nodeNs]);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(pinRoot, { recursive: true, force: true });
}

const format = (counts: Record<RequestKind, number>) => KINDS.map((k) => `${k} ${counts[k]}`).join(', ');

async function run(bed: Bed): Promise<void> {
  const times = {
    kubeAdd: [] as number[],
    kubeDel: [] as number[],
    localAdd: [] as number[],
    localDel: [] as number[],
  };
  const phases = {
    toPodGet: [] as number[],
    podGetToNads: [] as number[],
    nadsToPatch: [] as number[],
    patchToLastEvent: [] as number[],
    afterLastEvent: [] as number[],
  };
  const addPatterns = new Map<string, number>();
  let delRequests = 0;
  const args = `IgnoreUnknown=1;K8S_POD_NAMESPACE=${NAMESPACE};K8S_POD_NAME=pod`;
  for (let i = 0; i < iterations + WARM_UP; i++) {
    for (const mode of ['kube', 'local'] as const) {
      const pod = `braid-bp-${suffix}`;
      await mustRun(['ip', 'netns', 'add', pod]);
      try {
        const env = {
          CNI_NETNS: `/run/netns/${pod}`,
          CNI_ARGS: args,
          CNI_CONTAINERID: `${mode}${i}`,
          CNI_IFNAME: 'eth0',
        };
        const conf = mode === 'kube' ? bed.kubeConf : bed.localConf;
        const before = bed.api.requests.length;
        const started = performance.now();
        const add = await cni('ADD', env, conf);
        const afterAdd = bed.api.requests.length;
        const del = await cni('DEL', env, conf);
        delRequests += bed.api.requests.length - afterAdd;
        if (mode === 'kube') {
          const during = bed.api.requests.slice(before, afterAdd) as (RecordedRequest & { at: number })[];
          const pattern = format(countByKind(during));
          addPatterns.set(pattern, (addPatterns.get(pattern) ?? 0) + 1);
          if (i >= WARM_UP) splitPhases(phases, during, started, started + add);
        } else if (bed.api.requests.length !== before) {
          throw new Error('the local-default run talked to the API server');
        }
        if (i >= WARM_UP) {
          times[`${mode}Add`].push(add);
          times[`${mode}Del`].push(del);
        }
      } finally {
        await runCommand(['ip', 'netns', 'del', pod]);
      }
    }
  }

  const total = iterations + WARM_UP;
  console.log(`braid ADD on the Kubernetes API: bridge + 3 macvlan NADs, ${iterations} pods (+${WARM_UP} warm-up)`);
  console.log('API requests per ADD:');
  for (const [pattern, n] of addPatterns) console.log(`  ${pattern}   (${n} of ${total} ADDs)`);
  console.log(`API requests during DEL: ${delRequests} in ${total} DELs`);
  const goal = [...addPatterns.keys()].every(
    (p) => /pod GET [01],/.test(p) && p.includes(`NAD GET ${NADS.length},`) && p.includes('status PATCH 1,'),
  );
  console.log(
    `goal (<= 1 pod GET, 1 GET per distinct NAD, 1 status write, DEL none): ${goal && delRequests === 0 ? 'met' : 'NOT met'}`,
  );
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log('medians in ms         ADD      DEL');
  console.log(`Kubernetes API   ${f(median(times.kubeAdd))}  ${f(median(times.kubeDel))}`);
  console.log(`local default    ${f(median(times.localAdd))}  ${f(median(times.localDel))}`);
  console.log(
    `difference       ${f(median(times.kubeAdd) - median(times.localAdd))}  ${f(median(times.kubeDel) - median(times.localDel))}`,
  );
  console.log('Kubernetes ADD by phase (medians in ms, from when the API server received each request):');
  console.log(
    `  start -> pod GET ${f(median(phases.toPodGet))}   pod GET -> last NAD GET ${f(median(phases.podGetToNads))}`,
  );
  console.log(
    `  last NAD GET -> status PATCH (delegates) ${f(median(phases.nadsToPatch))}   PATCH -> last event ${f(median(phases.patchToLastEvent))}   -> exit ${f(median(phases.afterLastEvent))}`,
  );
}

/** Splits one ADD at the requests it made: pod GET, last NAD GET, status PATCH, last event. */
function splitPhases(
  phases: Record<string, number[]>,
  during: (RecordedRequest & { at: number })[],
  start: number,
  end: number,
): void {
  const at = (kind: RequestKind) => during.filter((r) => requestKind(r) === kind).map((r) => r.at);
  const pod = at('pod GET')[0];
  const nad = at('NAD GET').at(-1);
  const patch = at('status PATCH')[0];
  const event = at('event POST').at(-1);
  if (pod === undefined || nad === undefined || patch === undefined || event === undefined) return;
  phases.toPodGet!.push(pod - start);
  phases.podGetToNads!.push(nad - pod);
  phases.nadsToPatch!.push(patch - nad);
  phases.patchToLastEvent!.push(event - patch);
  phases.afterLastEvent!.push(end - event);
}

let bed: Bed | undefined;
try {
  bed = await setUp();
  await run(bed);
} finally {
  await tearDown(bed);
}
