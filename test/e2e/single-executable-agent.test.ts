import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IfaceRecord } from '../../src/policy/registry.ts';
import { makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  addressesOf,
  ANN_NETWORKS,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
  type BraidRunOptions,
} from '../helpers/braid-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import type { PluginRun } from '../helpers/run-plugin.ts';
import { entries } from '../helpers/sea-files.ts';
import { useSea } from '../helpers/sea.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { startAgentProcess, type AgentProcess } from '../integration/agent-testbed.ts';

/**
 * The node agent as the DaemonSet runs it: the single executable's `braid-agent`, with the SEA's
 * `braid` handing it the runtime's calls. Neither is given BRAID_BPF_DIR: the policy datapath
 * (mnp.o) and koffi's addon come out of each process's own bundled files, unpacked into its own
 * BRAID_ASSET_DIR (temp dirs, so nothing is written to /run/braid).
 */
const DEFAULT_ASSET_ROOT = '/run/braid';
const skip =
  braidUnavailable() ?? (existsSync('/usr/bin/curl') ? undefined : 'needs curl (/usr/bin/curl) for the metrics port');
const ADD_OK = 'braid_agent_requests_total{verb="ADD",code="0"}';
/** What the SEA braid says when it does a call itself after all. */
const DONE_IN_PLUGIN = /doing the work in this process/;

const agents: AgentProcess[] = [];
let pins: PinRoot | undefined;

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await destroyAllNetns();
  pins?.cleanup();
  pins = undefined;
  cleanupTemps();
});

/** The plugin calls' code cache files, <root>/code-cache-<build id>/<command>-<verb>.bin, full paths. */
function codeCaches(root: string): string[] {
  return entries(root)
    .filter((d) => d.startsWith('code-cache-'))
    .flatMap((d) => entries(join(root, d)).map((f) => join(root, d, f)));
}

/**
 * The files of the one `assets-<build id>` directory under a BRAID_ASSET_DIR (plugin calls also
 * keep their code caches there, in code-cache-<build id>/: scripts/sea-main.cjs).
 */
function unpackedAssets(root: string): string[] {
  const dirs = entries(root).filter((d) => !d.startsWith('code-cache-'));
  expect(dirs, `asset directories under ${root}`).toEqual([expect.stringMatching(/^assets-[0-9a-f]+$/)]);
  return entries(join(root, dirs[0]!));
}

/** The policy registry's records of the pod's interfaces (braid's cache dir is the agent's). */
function policyRecords(bed: BraidBed): IfaceRecord[] {
  const dir = join(bed.cniDir, 'policy', 'ifaces');
  return entries(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as IfaceRecord);
}

const pinnedPolicyLinks = (pinRoot: string): string[] => entries(join(pinRoot, 'mnp', 'links'));

/** eth0 (cluster bridge) and net1 (macvlan) each have an address; net1, which a policy selects, has both policy hooks pinned. */
async function expectPodWired(bed: BraidBed, pinRoot: string, lanPrefix: string): Promise<void> {
  expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
  expect(await addressesOf(bed.pod, 'eth0'), 'eth0 (ip -j addr)').toEqual([
    expect.stringMatching(/^10\.88\.0\.\d+\/24$/),
  ]);
  expect(await addressesOf(bed.pod, 'net1'), 'net1 (ip -j addr)').toEqual([
    expect.stringMatching(new RegExp(`^${lanPrefix.replaceAll('.', '\\.')}\\.\\d+/24$`)),
  ]);
  const records = policyRecords(bed);
  expect(records.map((r) => [r.containerId, r.ifname]).sort()).toEqual([[bed.containerId, 'net1']]);
  // One slot directory per enforced interface, named by its id, holding the in and out links.
  expect(pinnedPolicyLinks(pinRoot), "pinned tcx link slots of the pod's interfaces").toEqual(
    records.map((r) => String(r.ifaceId)),
  );
  for (const r of records)
    expect(entries(dirname(r.links.in))).toEqual([basename(r.links.in), basename(r.links.out)].sort());
}

function expectNoPolicyLeft(bed: BraidBed, pinRoot: string): void {
  expect(policyRecords(bed), 'policy records left').toEqual([]);
  expect(pinnedPolicyLinks(pinRoot), 'pinned tcx links left').toEqual([]);
}

/** GET on the agent's TCP metrics listener, from inside the node namespace it listens in. */
async function overTcp(
  bed: BraidBed,
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  const r = await bed.node.nsenter([
    'curl',
    '-s',
    '--max-time',
    '5',
    '-X',
    method,
    '-w',
    '\n%{http_code}',
    `http://127.0.0.1:${port}${path}`,
  ]);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

/** The port the agent reported it serves metrics on (`--metrics-address 127.0.0.1:0`). */
async function metricsPort(agent: AgentProcess): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const m = /metrics on port (\d+)/.exec(agent.log());
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`braid-agent did not report a metrics port: ${agent.log()}`);
}

describe.skipIf(skip)(`braid-agent as a single executable${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const sea = useSea();

  interface Setup {
    bed: BraidBed;
    pinRoot: string;
    lanPrefix: string;
    agent: AgentProcess;
    agentAssets: string;
    pluginAssets: string;
    /** A call of the SEA's `braid`, with its own BRAID_ASSET_DIR and a conf that names the agent's socket. */
    run(verb: string, opts?: BraidRunOptions): Promise<PluginRun>;
  }

  /** A braid bed (cluster bridge + macvlan NAD `lan`, policy on) and the SEA agent serving it. */
  async function setUp(agentArgs: string[] = []): Promise<Setup> {
    pins = makePinRoot();
    const bed = await makeBraidBed();
    const lanPrefix = `192.168.${80 + Math.floor(Math.random() * 40)}`;
    await bed.macvlanNad('lan', `${lanPrefix}.0/24`);
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const agentAssets = makeTempDir('braid-t-assets-agent');
    const pluginAssets = makeTempDir('braid-t-assets-plugin');
    const socketPath = join(bed.root, 'run', 'braid.sock');
    // startAgentProcess passes --no-policy: no cluster policy sync (there is no API server here).
    // The ADD itself attaches the policy programs, as conf.policy asks, in whichever process runs it.
    const agent = await startAgentProcess(sea.path('braid-agent'), {
      node: bed.node,
      socketPath,
      cacheDir: bed.cniDir,
      args: agentArgs,
      env: { BRAID_ASSET_DIR: agentAssets },
    });
    agents.push(agent);
    const policyDir = join(bed.root, 'policies');
    // Every pod on lan is isolated for ingress, so net1 is enforced (the cluster network is not).
    mkdirSync(join(policyDir, 'default'), { recursive: true });
    writeFileSync(
      join(policyDir, 'default', 'deny-lan.json'),
      JSON.stringify({
        apiVersion: 'k8s.cni.cncf.io/v1beta1',
        kind: 'MultiNetworkPolicy',
        metadata: { name: 'deny-lan', namespace: 'default', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'lan' } },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      }),
    );
    const conf = bed.conf({ agentSocket: socketPath, policy: { enabled: true, bpfRoot: pins.path, policyDir } });
    const run = (verb: string, opts: BraidRunOptions = {}) =>
      bed.run(verb, { conf, binary: sea.host('braid'), extraEnv: { BRAID_ASSET_DIR: pluginAssets }, ...opts });
    return { bed, pinRoot: pins.path, lanPrefix, agent, agentAssets, pluginAssets, run };
  }

  it('the SEA braid hands ADD, CHECK and DEL to it; the pod gets eth0 and net1 under policy, and DEL leaves nothing', async () => {
    const defaultAssetsBefore = entries(DEFAULT_ASSET_ROOT);
    const { bed, pinRoot, lanPrefix, agent, agentAssets, pluginAssets, run } = await setUp([
      '--metrics-address',
      '127.0.0.1:0',
    ]);

    const add = await run('ADD');
    expect(expectOk(add)!.interfaces.map((i: { name: string }) => i.name)).toContain('eth0');
    expect(add.stderr).not.toMatch(DONE_IN_PLUGIN);
    await expectPodWired(bed, pinRoot, lanPrefix);
    expect(unpackedAssets(agentAssets), 'the agent found mnp.o and koffi among its own bundled files').toEqual(
      expect.arrayContaining(['mnp.o', 'koffi.node']),
    );
    expect(entries(pluginAssets), 'a handed-over call needs none of the bundled files').toEqual([]);

    const check = await run('CHECK');
    expectOk(check);
    expect(check.stderr).not.toMatch(DONE_IN_PLUGIN);
    expect(await agent.metric(ADD_OK)).toBe(1);
    expect(await agent.metric('braid_agent_requests_total{verb="CHECK",code="0"}')).toBe(1);

    expect(await agent.get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    const metrics = await agent.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/braid_delegate_duration_seconds_count\{type="macvlan",verb="ADD"\} [1-9]/);
    // The DaemonSet's probes and Prometheus use the TCP listener; it does not take plugin calls.
    const port = await metricsPort(agent);
    expect(await overTcp(bed, port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    const tcpMetrics = await overTcp(bed, port, '/metrics');
    expect(tcpMetrics.status).toBe(200);
    expect(tcpMetrics.body).toContain(`${ADD_OK} 1`);
    expect((await overTcp(bed, port, '/cni', 'POST')).status).toBe(405);

    const del = await run('DEL');
    expectOk(del);
    expect(del.stderr).not.toMatch(DONE_IN_PLUGIN);
    expect(await agent.metric('braid_agent_requests_total{verb="DEL",code="0"}')).toBe(1);
    expectNoPolicyLeft(bed, pinRoot);
    await bed.expectNothingLeft();
    expect(entries(pluginAssets)).toEqual([]);
    expect(entries(DEFAULT_ASSET_ROOT), `written to ${DEFAULT_ASSET_ROOT}`).toEqual(defaultAssetsBefore);
  });

  it('SIGTERM: the agent removes its socket and exits 0; the SEA braid then does ADD and DEL itself from its own bundled files', async () => {
    const defaultAssetsBefore = entries(DEFAULT_ASSET_ROOT);
    const { bed, pinRoot, lanPrefix, agent, pluginAssets, run } = await setUp();
    expect(existsSync(agent.socketPath)).toBe(true);

    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(agent.log()).toMatch(/SIGTERM: stopping/);
    expect(existsSync(agent.socketPath), "the agent's socket after SIGTERM").toBe(false);

    const add = await run('ADD');
    expectOk(add);
    expect(add.stderr, 'no hand-over attempted').not.toMatch(/agent/);
    await expectPodWired(bed, pinRoot, lanPrefix);
    expect(unpackedAssets(pluginAssets), 'the plugin unpacked its own datapath').toEqual(
      expect.arrayContaining(['mnp.o', 'koffi.node']),
    );

    const del = await run('DEL');
    expectOk(del);
    expect(del.stderr).not.toMatch(/agent/);
    expectNoPolicyLeft(bed, pinRoot);
    await bed.expectNothingLeft();

    // The first ADD and DEL wrote their verbs' code caches (scripts/sea-main.cjs). A second round
    // runs from them, unchanged (V8 took them), and the parts a call loads only when a policy
    // selects the pod (the policy runtime, libbpf through koffi) still load and enforce.
    const caches = codeCaches(pluginAssets);
    expect(caches.map((f) => basename(f))).toEqual(['braid-node-ADD.bin', 'braid-node-DEL.bin']);
    const inodes = caches.map((f) => statSync(f).ino);
    expectOk(await run('ADD'));
    await expectPodWired(bed, pinRoot, lanPrefix);
    expectOk(await run('DEL'));
    expectNoPolicyLeft(bed, pinRoot);
    await bed.expectNothingLeft();
    expect(
      caches.map((f) => statSync(f).ino),
      'a code cache was rewritten: V8 rejected it',
    ).toEqual(inodes);
    expect(entries(DEFAULT_ASSET_ROOT), `written to ${DEFAULT_ASSET_ROOT}`).toEqual(defaultAssetsBefore);
  });
});
