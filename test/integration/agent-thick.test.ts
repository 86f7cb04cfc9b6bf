import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  hex,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import { closeAllKubeBeds, macvlanConf, requestKind, startKubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from './agent-testbed.ts';

/**
 * Thick mode end to end: the real `braid` binary hands the runtime's calls to a real braid-agent
 * (both built from these sources), which runs Debian's plugins in the node namespace; and every
 * way the agent can be missing or in trouble leaves `braid` working on its own.
 */
const skip = braidUnavailable();
const agents: AgentProcess[] = [];
let pins: PinRoot | undefined;

beforeAll(() => {
  if (!skip) braidBinary();
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await closeAllKubeBeds();
  await destroyAllNetns();
  pins?.cleanup();
  pins = undefined;
  cleanupTemps();
});

async function withAgent(
  bed: BraidBed,
  args: string[] = [],
  env?: Record<string, string>,
): Promise<{ agent: AgentProcess; conf: Record<string, unknown> }> {
  const socketPath = join(bed.root, 'run', 'braid.sock');
  const agent = await startAgentProcess(agentBinaryBeside(braidBinary()), {
    node: bed.node,
    socketPath,
    cacheDir: bed.cniDir,
    args,
    ...(env ? { env } : {}),
  });
  agents.push(agent);
  return { agent, conf: bed.conf({ agentSocket: socketPath }) };
}

const ADD_OK = 'braid_agent_requests_total{verb="ADD",code="0"}';
const DEL_OK = 'braid_agent_requests_total{verb="DEL",code="0"}';

/** A runtime environment no agent has: a random mark and a PATH whose first entry is the test's. */
function runtimeEnvironment(bed: BraidBed): { mark: string; firstPath: string; env: Record<string, string> } {
  const mark = hex(8);
  const firstPath = join(bed.root, `runtime-bin-${mark}`);
  return {
    mark,
    firstPath,
    env: { BRAID_TEST_MARK: mark, PATH: `${firstPath}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  };
}

/** Every call of `verb` the spy saw ran with the runtime's environment. */
function expectRuntimeEnvironment(spy: SpyPlugin, verb: string, runtime: { mark: string; firstPath: string }): void {
  const calls = spy.callsOf(verb);
  expect(calls.length, `${verb} calls of ${spy.name}`).toBeGreaterThan(0);
  for (const { environment } of calls) {
    expect(environment.BRAID_TEST_MARK, `${verb}: BRAID_TEST_MARK`).toBe(runtime.mark);
    expect(environment.PATH?.split(':')[0], `${verb}: first PATH entry`).toBe(runtime.firstPath);
    expect(environment, `${verb}: the agent's own environment`).not.toHaveProperty('AGENT_ONLY');
  }
}

describe.skipIf(skip)('braid hands calls to braid-agent', () => {
  it('ADD, CHECK and DEL run in the agent and give the pod what thin mode gives it', async () => {
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.77.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const { agent, conf } = await withAgent(bed);
    const socketDir = join(bed.root, 'run');
    expect(statSync(agent.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(socketDir).mode & 0o777).toBe(0o700);

    const result = expectOk(await bed.run('ADD', { conf }))!;
    expect(result.interfaces.map((i: { name: string }) => i.name)).toContain('eth0');
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    expect((await bed.networkStatus())?.map((s) => s.name)).toEqual(['cluster', 'default/lan']);
    expectOk(await bed.run('CHECK', { conf }));
    expect(await agent.metric(ADD_OK)).toBe(1);
    expect(await agent.metric('braid_agent_requests_total{verb="CHECK",code="0"}')).toBe(1);
    const metrics = (await agent.get('/metrics')).body;
    expect(metrics).toMatch(/braid_delegate_duration_seconds_count\{type="bridge",verb="ADD"\} [1-9]/);
    expect(metrics).toMatch(/braid_delegate_duration_seconds_count\{type="macvlan",verb="ADD"\} [1-9]/);
    expect(metrics).toContain('braid_attachments{state="added"} 2');

    expectOk(await bed.run('DEL', { conf }));
    expect(await agent.metric(DEL_OK)).toBe(1);
    await bed.expectNothingLeft();
  });

  it('in the agent, an interface name the sandbox already has and a missing netns fail before anything is set up', async () => {
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.78.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const { agent, conf } = await withAgent(bed);
    // Another container sharing the sandbox already has net1 (the agent lists links over netlink).
    expectOk(await bed.run('ADD', { conf, containerId: `${bed.containerId}-first` }));
    const taken = expectCniError(await bed.run('ADD', { conf }), 102);
    expect(taken.msg).toContain('net1');
    expect(taken.msg).toContain('already exists');
    expect(bed.cacheFiles()).toEqual([`${bed.containerId}-first-eth0.json`]);
    expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="102"}')).toBe(1);
    expectOk(await bed.run('DEL', { conf, containerId: `${bed.containerId}-first` }));

    const gone = expectCniError(
      await bed.run('ADD', { conf, extraEnv: { CNI_NETNS: `/run/netns/braid-t-missing-${hex()}` } }),
      4,
    );
    expect(gone.msg).toContain('CNI_NETNS');
    expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="4"}')).toBe(1);
    await bed.expectNothingLeft();
  });

  it('on the Kubernetes API, ADDs in the agent share its keep-alive connections; each thin call opens its own', async () => {
    const bed = await makeBraidBed();
    const kube = await startKubeBed(bed.root, bed.node.path);
    const master = await bed.nodeVeth();
    kube.api.setNad('default', 'mv', JSON.stringify(macvlanConf('mv', master, '10.10.1.0/24', bed.ipamDir)));
    const pods = ['web', 'db', 'cache'];
    for (const name of pods)
      kube.api.setPod({ namespace: 'default', name, uid: `uid-${name}`, annotations: { [ANN_NETWORKS]: 'mv' } });
    const { agent, conf: agentConf } = await withAgent(bed);
    const thick = kube.conf(agentConf);
    const thin = kube.conf({ ...agentConf, agentSocket: '' });
    const netns = [bed.pod, await bed.newPod(), await bed.newPod()];
    const call = (verb: string, i: number, conf: Record<string, unknown>) =>
      bed.run(verb, {
        conf,
        netns: netns[i]!,
        containerId: `${bed.containerId}-${pods[i]}`,
        pod: { namespace: 'default', name: pods[i]! },
      });

    expectOk(await call('ADD', 0, thick));
    const afterFirst = kube.gateway.connections;
    expect(afterFirst).toBeGreaterThan(0);
    expectOk(await call('ADD', 1, thick));
    expect(await agent.metric(ADD_OK)).toBe(2);
    expect(kube.gateway.connections, "the second ADD in the agent reused the first one's connections").toBe(afterFirst);
    expect(kube.api.requests.filter((r) => requestKind(r) === 'status PATCH')).toHaveLength(2);

    expectOk(await call('ADD', 2, thin));
    expect(kube.gateway.connections, 'a thin ADD connects on its own').toBeGreaterThan(afterFirst);
    for (const i of [0, 1]) expectOk(await call('DEL', i, thick));
    expectOk(await call('DEL', 2, thin));
    await bed.expectNothingLeft();
  });

  it('without an agent, or with one that was killed, braid does the work itself', async () => {
    const bed = await makeBraidBed();
    const conf = bed.conf({ agentSocket: join(bed.root, 'run', 'braid.sock') });
    expectOk(await bed.run('ADD', { conf }));
    expectOk(await bed.run('DEL', { conf }));

    const { agent } = await withAgent(bed);
    agent.signal('SIGKILL');
    await agent.exited;
    expect(existsSync(agent.socketPath)).toBe(true);
    const started = Date.now();
    const add = await bed.run('ADD', { conf });
    expectOk(add);
    expect(add.stderr).not.toMatch(/agent/);
    expectOk(await bed.run('DEL', { conf }));
    expect(Date.now() - started).toBeLessThan(10_000);
    await bed.expectNothingLeft();
  });

  it('an agent killed in the middle of an ADD: braid finishes the call itself, and nothing is doubled or leaked', async () => {
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.79.0/24');
    const [slow] = bed.spyNad('slow', ['spy-slow']);
    slow!.setControl({ mode: 'sleep', sleepSeconds: 30, onlyFor: ['ADD'] });
    bed.writePod({ [ANN_NETWORKS]: 'lan,slow' });
    const { agent, conf } = await withAgent(bed);

    const add = bed.run('ADD', { conf });
    // The agent has set up eth0 and net1 and is waiting on the third delegate when it dies.
    for (let i = 0; i < 1000 && slow!.callsOf('ADD').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const stuck = slow!.callsOf('ADD')[0];
    expect(stuck, 'the agent reached the third attachment').toBeDefined();
    expect(await agent.metric('braid_agent_requests_in_flight')).toBe(1);
    slow!.clearControl();
    agent.signal('SIGKILL');
    await agent.exited;
    process.kill(-stuck!.pid, 'SIGKILL'); // the orphaned delegate of the dead agent

    const result = await add;
    expectOk(result);
    expect(result.stderr).toMatch(/agent at .* doing the work in this process/);
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    // The half-done ADD was undone before the new one: one reservation per network, not two.
    expect(
      bed
        .leases()
        .map((l) => l.split('/')[0])
        .sort(),
    ).toEqual(['cluster', 'lan']);
    expect(bed.cacheFiles()).toEqual([`${bed.containerId}-eth0.json`]);

    expectOk(await bed.run('DEL', { conf }));
    await bed.expectNothingLeft();
  });

  it('an agent killed in the middle of a DEL: braid finishes the DEL itself, and nothing is left', async () => {
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.81.0/24');
    const [slow] = bed.spyNad('slow', ['spy-slow']);
    bed.writePod({ [ANN_NETWORKS]: 'lan,slow' });
    const { agent, conf } = await withAgent(bed);
    expectOk(await bed.run('ADD', { conf }));
    slow!.setControl({ mode: 'sleep', sleepSeconds: 30, onlyFor: ['DEL'] });

    const del = bed.run('DEL', { conf });
    // DEL runs in reverse: the agent is waiting on the last attachment's delegate when it dies.
    for (let i = 0; i < 1000 && slow!.callsOf('DEL').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const stuck = slow!.callsOf('DEL')[0];
    expect(stuck, 'the agent reached the DEL of the last attachment').toBeDefined();
    slow!.clearControl();
    agent.signal('SIGKILL');
    await agent.exited;
    process.kill(-stuck!.pid, 'SIGKILL');

    const result = await del;
    expectOk(result);
    expect(result.stderr).toMatch(
      /agent at .* dropped the connection before answering; doing the work in this process/,
    );
    await bed.expectNothingLeft();
  });

  it('a stuck agent: DEL does not wait on it, ADD gives up after its bound', async () => {
    const bed = await makeBraidBed();
    const { agent, conf } = await withAgent(bed);
    agent.signal('SIGSTOP');
    let started = Date.now();
    const add = await bed.run('ADD', { conf });
    expectOk(add);
    const addMs = Date.now() - started;
    expect(addMs).toBeGreaterThanOrEqual(10_000);
    expect(add.stderr).toMatch(/did not take the call within 10000 ms; doing the work in this process/);
    started = Date.now();
    const del = await bed.run('DEL', { conf });
    expectOk(del);
    expect(Date.now() - started).toBeLessThan(addMs - 1_500);
    expect(del.stderr).toMatch(/did not take the call within 500 ms/);
    await bed.expectNothingLeft();
  });

  it('queues calls beyond --max-concurrent instead of refusing them', async () => {
    const bed = await makeBraidBed();
    const { file, spies } = bed.spyNetwork('slow', ['slowspy']);
    spies[0]!.setControl({ mode: 'sleep', sleepSeconds: 1, onlyFor: ['ADD'] });
    const { agent, conf } = await withAgent(bed, ['--max-concurrent', '2']);
    const slowConf = { ...conf, clusterNetwork: file };
    const started = Date.now();
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => bed.run('ADD', { conf: slowConf, containerId: `burst-${i}` })),
    );
    const elapsed = Date.now() - started;
    for (const r of runs) expectOk(r);
    // Six one-second ADDs, two at a time: at least three rounds.
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(await agent.metric(ADD_OK)).toBe(6);
    expect(await agent.metric('braid_agent_concurrency_limit')).toBe(2);
    expect(await agent.metric('braid_agent_request_queue_seconds_sum{verb="ADD"}')).toBeGreaterThan(2);
    for (let i = 0; i < 6; i++) expectOk(await bed.run('DEL', { conf: slowConf, containerId: `burst-${i}` }));
    expect(bed.cacheFiles()).toEqual([]);
  });

  it('SIGTERM: the socket goes at once, the running call finishes, later calls run thin', async () => {
    const bed = await makeBraidBed();
    const { file, spies } = bed.spyNetwork('slow', ['slowspy']);
    spies[0]!.setControl({ mode: 'sleep', sleepSeconds: 2, onlyFor: ['ADD'] });
    const { agent, conf } = await withAgent(bed);
    const slowConf = { ...conf, clusterNetwork: file };
    const running = bed.run('ADD', { conf: slowConf, containerId: 'in-flight' });
    await new Promise((r) => setTimeout(r, 700));
    agent.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(agent.socketPath)).toBe(false);
    const thin = await bed.run('DEL', { conf: slowConf, containerId: 'other' });
    expectOk(thin);
    expect(thin.stderr).not.toMatch(/agent/);
    const finished = await running;
    expectOk(finished);
    expect(await agent.exited).toBe(0);
    expect(agent.log()).toMatch(/SIGTERM: stopping/);
    expectOk(await bed.run('DEL', { conf: slowConf, containerId: 'in-flight' }));
    expect(bed.cacheFiles()).toEqual([]);
  });

  it("delegates see the runtime's environment, not the agent's, for every verb", async () => {
    const bed = await makeBraidBed();
    const { file, spies } = bed.spyNetwork('envnet', ['envspy'], { cniVersion: '1.1.0' });
    const spy = spies[0]!;
    const { agent, conf } = await withAgent(bed, [], { AGENT_ONLY: '1' });
    const spyConf = { ...conf, cniVersion: '1.1.0', clusterNetwork: file };
    const runtime = runtimeEnvironment(bed);
    const run = async (verb: string, opts: { conf?: Record<string, unknown>; containerId?: string } = {}) => {
      const r = await bed.run(verb, { conf: spyConf, ...opts, extraEnv: runtime.env });
      expectOk(r);
      expect(r.stderr, `${verb} was handed over`).not.toMatch(/doing the work in this process/);
    };

    for (const verb of ['ADD', 'CHECK', 'DEL', 'STATUS']) await run(verb);
    for (const verb of ['ADD', 'CHECK', 'DEL', 'STATUS']) expectRuntimeEnvironment(spy, verb, runtime);
    // The CNI_* variables are still braid's own for each delegate.
    expect(spy.callsOf('ADD')[0]!.environment).toMatchObject({
      CNI_COMMAND: 'ADD',
      CNI_IFNAME: 'eth0',
      CNI_CONTAINERID: bed.containerId,
    });

    // GC DELs a container the runtime no longer lists, then forwards GC to the delegate network.
    await run('ADD', { containerId: 'gone' });
    spy.resetCalls();
    await run('GC', { conf: { ...spyConf, 'cni.dev/valid-attachments': [] } });
    for (const verb of ['DEL', 'GC']) expectRuntimeEnvironment(spy, verb, runtime);

    expect(await agent.metric(ADD_OK)).toBe(2);
    expect(await agent.metric(DEL_OK)).toBe(1);
    for (const verb of ['CHECK', 'STATUS', 'GC']) {
      expect(
        await agent.metric(`braid_agent_requests_total{verb="${verb}",code="0"}`),
        `${verb} served by the agent`,
      ).toBe(1);
    }
    await bed.expectNothingLeft();
  });

  it("thin mode: the delegate gets the plugin's own environment", async () => {
    const bed = await makeBraidBed();
    const { file, spies } = bed.spyNetwork('envnet', ['envspy']);
    const spy = spies[0]!;
    const thinConf = bed.conf({ agentSocket: '', clusterNetwork: file });
    const runtime = runtimeEnvironment(bed);
    expectOk(await bed.run('ADD', { conf: thinConf, extraEnv: runtime.env }));
    expectOk(await bed.run('DEL', { conf: thinConf, extraEnv: runtime.env }));
    for (const verb of ['ADD', 'DEL']) expectRuntimeEnvironment(spy, verb, runtime);
    await bed.expectNothingLeft();
  });

  it('ADD in the agent attaches the policy programs to the interfaces a policy selects, DEL removes them', async () => {
    buildBpfObjects();
    pins = makePinRoot();
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.78.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const { agent, conf } = await withAgent(bed, [], { BRAID_BPF_DIR: bpfObjectDir });
    const policyDir = join(bed.root, 'policies');
    // Every pod on lan is isolated for ingress: net1 is selected, the cluster network is not.
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
    const policyConf = { ...conf, policy: { enabled: true, bpfRoot: pins.path, policyDir } };
    expectOk(await bed.run('ADD', { conf: policyConf }));
    expect(await agent.metric(ADD_OK)).toBe(1);
    const records = join(bed.cniDir, 'policy', 'ifaces');
    const recs = readdirSync(records)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(records, f), 'utf8')) as { ifname: string });
    expect(recs.map((r) => r.ifname)).toEqual(['net1']);
    expect(readdirSync(join(pins.path, 'mnp', 'links')).length).toBe(1);
    expectOk(await bed.run('DEL', { conf: policyConf }));
    expect(readdirSync(records).filter((f) => f.endsWith('.json'))).toEqual([]);
    expect(readdirSync(join(pins.path, 'mnp', 'links'))).toEqual([]);
    await bed.expectNothingLeft();
  });
});
