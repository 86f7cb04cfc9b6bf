import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  bridgeClusterConflist,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { destroyAllNetns, type IpRoute } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from './agent-testbed.ts';

// braid-agent's warm path: an ADD (default-route and policy included) and its DEL start no
// process but the delegates. `ip` and `nsenter` first in the agent's PATH record any call.

const unavailable = braidUnavailable();
let agent: AgentProcess | undefined;
let pins: PinRoot | undefined;

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  pins?.cleanup();
  pins = undefined;
  await destroyAllNetns();
  cleanupTemps();
});

function tattletales(bed: BraidBed): { dir: string; log: string } {
  const dir = join(bed.root, 'tattle-bin');
  const log = join(bed.root, 'spawned.log');
  mkdirSync(dir, { recursive: true });
  for (const name of ['ip', 'nsenter']) {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> '${log}'\nexec /usr/bin/${name} "$@"\n`);
    chmodSync(file, 0o755);
  }
  return { dir, log };
}

describe.skipIf(unavailable !== undefined)('braid-agent spawns nothing but the delegates', () => {
  it('ADD with a default route and an enforced policy, then DEL: no ip, no nsenter', async () => {
    buildBpfObjects();
    pins = makePinRoot();
    const bed = await makeBraidBed();
    const clusterFile = bed.writeConfFile(
      bridgeClusterConflist({ ...bed.hostLocal('10.88.0.0/24'), routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }] }),
      '10-cluster.conflist',
    );
    await bed.macvlanNad('lan', '10.89.0.0/24', {
      ipam: { ranges: [[{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }]] },
    });
    bed.writePod({ [ANN_NETWORKS]: JSON.stringify([{ name: 'lan', 'default-route': ['10.89.0.1'] }]) });
    const policyDir = join(bed.root, 'policies');
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
    const spy = tattletales(bed);
    const socketPath = join(bed.root, 'run', 'braid.sock');
    agent = await startAgentProcess(agentBinaryBeside(braidBinary()), {
      node: bed.node,
      socketPath,
      cacheDir: bed.cniDir,
      env: { PATH: `${spy.dir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, BRAID_BPF_DIR: bpfObjectDir },
    });
    // The test bed starts the agent itself through nsenter: only what follows counts.
    rmSync(spy.log, { force: true });
    const conf = bed.conf({
      agentSocket: socketPath,
      clusterNetwork: clusterFile,
      policy: { enabled: true, bpfRoot: pins.path, policyDir },
    });

    const add = await bed.run('ADD', { conf });
    expectOk(add);
    expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}')).toBe(1);
    const defaults = (routes: IpRoute[]) =>
      routes.filter((r) => r.dst === 'default').map((r) => `${r.gateway} ${r.dev}`);
    expect(defaults(await bed.pod.routes(4)), 'the agent set the requested default route over rtnetlink').toEqual([
      '10.89.0.1 net1',
    ]);
    expect(existsSync(join(pins.path, 'mnp', 'links'))).toBe(true);
    expectOk(await bed.run('DEL', { conf }));
    expect(await agent.metric('braid_agent_requests_total{verb="DEL",code="0"}')).toBe(1);
    expect(
      existsSync(spy.log) ? readFileSync(spy.log, 'utf8') : '',
      'processes the agent started besides delegates',
    ).toBe('');
    await bed.expectNothingLeft();
  });
});
