import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
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
  await destroyAllNetns();
  pins?.cleanup();
  pins = undefined;
  cleanupTemps();
});

async function withAgent(bed: BraidBed, args: string[] = [], env?: Record<string, string>): Promise<{ agent: AgentProcess; conf: Record<string, unknown> }> {
  const socketPath = join(bed.root, 'run', 'braid.sock');
  const agent = await startAgentProcess(agentBinaryBeside(braidBinary()), { node: bed.node, socketPath, cacheDir: bed.cniDir, args, ...(env ? { env } : {}) });
  agents.push(agent);
  return { agent, conf: bed.conf({ agentSocket: socketPath }) };
}

const ADD_OK = 'braid_agent_requests_total{verb="ADD",code="0"}';
const DEL_OK = 'braid_agent_requests_total{verb="DEL",code="0"}';

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

  it('a stuck agent: DEL does not wait on it, ADD gives up after its bound', async () => {
    const bed = await makeBraidBed();
    const { agent, conf } = await withAgent(bed);
    agent.signal('SIGSTOP');
    let started = Date.now();
    const add = await bed.run('ADD', { conf });
    expectOk(add);
    const addMs = Date.now() - started;
    expect(addMs).toBeGreaterThanOrEqual(3_000);
    expect(add.stderr).toMatch(/did not take the call within 3000 ms; doing the work in this process/);
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
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => bed.run('ADD', { conf: slowConf, containerId: `burst-${i}` })));
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

  it('ADD in the agent attaches the policy programs to the pod\'s interfaces, DEL removes them', async () => {
    buildBpfObjects();
    pins = makePinRoot();
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.78.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const { agent, conf } = await withAgent(bed, [], { BRAID_BPF_DIR: bpfObjectDir });
    const policyConf = { ...conf, policy: { enabled: true, bpfRoot: pins.path, policyDir: join(bed.root, 'policies') } };
    expectOk(await bed.run('ADD', { conf: policyConf }));
    expect(await agent.metric(ADD_OK)).toBe(1);
    const records = join(bed.cniDir, 'policy', 'ifaces');
    expect(readdirSync(records).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    expect(readdirSync(join(pins.path, 'mnp', 'links')).length).toBeGreaterThan(0);
    expectOk(await bed.run('DEL', { conf: policyConf }));
    expect(readdirSync(records).filter((f) => f.endsWith('.json'))).toEqual([]);
    expect(readdirSync(join(pins.path, 'mnp', 'links'))).toEqual([]);
    await bed.expectNothingLeft();
  });
});
