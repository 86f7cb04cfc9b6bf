/**
 * braid-agent's memory: resident set idle (no API server), after listing and watching a cluster
 * of 10,000 pods (plus NADs, namespaces and MultiNetworkPolicies) from the loopback API
 * stand-in, after 2,000 pod updates, and after a forced full relist (410 Gone). The agent is the
 * built binary (dist/bin/braid-agent), run as its own process so that its RSS is its own.
 * Usage (after `npm run build`):
 *   node --experimental-transform-types test/bench/agent-memory.ts [pods] [nodes]
 * Knobs (environment): AGENT_NODE_OPTIONS (V8 flags for the agent, e.g. the DaemonSet's
 * "--max-semi-space-size=1 --max-old-space-size=384"), MALLOC_ARENA_MAX, RSS_DETAIL=1 (anon/file split).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';
import { getOverSocket, sampleOf } from '../integration/agent-testbed.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const agentBin = path.join(root, 'dist/bin/braid-agent');
const podCount = Number(process.argv[2] ?? 10_000);
const nodes = Number(process.argv[3] ?? 100);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-agent-mem-'));

function rssOf(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  if (process.env.RSS_DETAIL) console.log(`  anon ${kb('RssAnon') / 1024} file ${kb('RssFile') / 1024}`);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function startAgent(name: string, args: string[]) {
  const socket = path.join(tmp, `${name}.sock`);
  const child = spawn(
    agentBin,
    [
      '--socket',
      socket,
      '--metrics-address',
      'off',
      '--cache-dir',
      path.join(tmp, 'cache'),
      '--bpf-root',
      path.join(tmp, 'bpf'),
      '--policy-dir',
      path.join(tmp, 'policies'),
      '--pod-dir',
      path.join(tmp, 'pods'),
      '--node-name',
      'node-0',
      ...args,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      // AGENT_NODE_OPTIONS: V8 heap flags to try, e.g. "--max-semi-space-size=1".
      env: {
        PATH: process.env.PATH ?? '',
        ...(process.env.AGENT_NODE_OPTIONS ? { NODE_OPTIONS: process.env.AGENT_NODE_OPTIONS } : {}),
        ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      },
    },
  );
  for (let i = 0; i < 500 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
  const metric = async (series: string) => sampleOf((await getOverSocket(socket, '/metrics')).body, series);
  const ready = async (timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while ((await getOverSocket(socket, '/readyz')).status !== 200) {
      if (Date.now() > deadline) throw new Error('agent not ready');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  return { pid: child.pid!, metric, ready, stop };
}

const settle = (ms = 2_000) => new Promise((r) => setTimeout(r, ms));
const mib = (x: number) => `${x.toFixed(1)} MiB`;

function populate(api: FakeWatchApiServer): void {
  for (let n = 0; n < 50; n++) api.putNamespace(`team-${n}`, { team: `t${n % 10}`, env: n % 2 ? 'prod' : 'dev' });
  for (let n = 0; n < 300; n++) {
    api.setNad(
      `team-${n % 50}`,
      `net-${n}`,
      JSON.stringify({
        cniVersion: '1.0.0',
        name: `net-${n}`,
        type: 'macvlan',
        master: 'eth1',
        mode: 'bridge',
        ipam: { type: 'whereabouts', range: `10.${n % 250}.0.0/16` },
      }),
    );
  }
  for (let i = 0; i < podCount; i++) {
    const ns = `team-${i % 50}`;
    const status = [
      {
        name: 'cluster',
        interface: 'eth0',
        ips: [`10.244.${(i >> 8) & 255}.${i & 255}`],
        mac: '0a:58:0a:f4:00:01',
        default: true,
        dns: {},
      },
      {
        name: `${ns}/net-${i % 300}`,
        interface: 'net1',
        ips: [`192.168.${(i >> 8) & 255}.${i & 255}`],
        mac: '02:42:c0:a8:00:01',
        default: false,
        dns: {},
      },
    ];
    api.putPod({
      namespace: ns,
      name: `app-${i}-7d9f8c6b5-${(i * 7919).toString(36).slice(-5)}`,
      nodeName: `node-${i % nodes}`,
      labels: { app: `app-${i % 200}`, tier: ['web', 'api', 'db'][i % 3]!, 'pod-template-hash': `7d9f8c6b5${i % 97}` },
      annotations: {
        'k8s.v1.cni.cncf.io/networks': `net-${i % 300}`,
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify(status),
      },
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9090 },
      ],
    });
  }
  for (let n = 0; n < 50; n++) {
    api.putPolicy(
      `team-${n}`,
      `allow-web-${n}`,
      {
        podSelector: { matchLabels: { tier: 'db' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { tier: 'api' } } },
              { namespaceSelector: { matchLabels: { env: 'prod' } } },
            ],
            ports: [{ port: 'http' }],
          },
        ],
      },
      { 'k8s.v1.cni.cncf.io/policy-for': `net-${n}` },
    );
  }
}

async function run(): Promise<void> {
  const idle = await startAgent('idle', []);
  await settle();
  const idleRss = rssOf(idle.pid);
  await idle.stop();

  const api = await FakeWatchApiServer.startWatchable();
  const started = Date.now();
  populate(api);
  const populateMs = Date.now() - started;
  const kubeconfig = path.join(tmp, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${api.url}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n`,
  );
  try {
    const agent = await startAgent('cluster', ['--kubeconfig', kubeconfig]);
    const t0 = Date.now();
    await agent.ready();
    const syncMs = Date.now() - t0;
    await settle();
    const synced = rssOf(agent.pid);
    const pods = await agent.metric('braid_cache_objects{cache="pods"}');
    const local = await agent.metric('braid_cache_objects{cache="local_pods"}');
    const heap = await agent.metric('braid_agent_memory_bytes{kind="heap_used"}');
    const heapTotal = await agent.metric('braid_agent_memory_bytes{kind="heap_total"}');

    for (let i = 0; i < 2_000; i++) {
      const ns = `team-${i % 50}`;
      api.putPod({
        namespace: ns,
        name: `app-${i}-7d9f8c6b5-${(i * 7919).toString(36).slice(-5)}`,
        nodeName: `node-${i % nodes}`,
        labels: { app: `app-${i % 200}`, tier: 'web', rollout: '2' },
      });
    }
    await settle();
    const churned = rssOf(agent.pid);
    api.compact();
    api.dropWatches();
    await settle(4_000);
    const relists = await agent.metric('braid_watch_relists_gone_total{resource="pods"}');
    const relisted = rssOf(agent.pid);
    await agent.stop();

    console.log(
      `braid-agent memory (${podCount} pods on ${nodes} nodes, 300 NADs, 50 namespaces, 50 policies; fake API filled in ${populateMs} ms)`,
    );
    console.log(`idle, no API server:            RSS ${mib(idleRss.rss)}`);
    console.log(
      `synced (list took ${syncMs} ms):     RSS ${mib(synced.rss)}  peak ${mib(synced.peak)}  heap used ${mib((heap ?? 0) / 2 ** 20)} of ${mib((heapTotal ?? 0) / 2 ** 20)}  cached pods ${pods} (local ${local})`,
    );
    console.log(`after 2,000 pod updates:        RSS ${mib(churned.rss)}  peak ${mib(churned.peak)}`);
    console.log(`after a 410 relist (${relists}):       RSS ${mib(relisted.rss)}  peak ${mib(relisted.peak)}`);
  } finally {
    await api.close();
  }
}

try {
  await run();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
