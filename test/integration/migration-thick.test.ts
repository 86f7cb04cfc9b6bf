import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_STATUS,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { closeAllKubeBeds, macvlanConf, podInterfaces, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { pluginEnv } from '../helpers/run-plugin.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from './agent-testbed.ts';

// Issue 11 item 7 (thick mode): braid-agent also serves Multus' daemon API on its socket. A client
// speaking Multus' shim JSON ({env, config}) gets what braid's own front door gives; POST /healthz
// answers; POST /delegate (multus-dynamic-networks-controller, KubeVirt) adds and removes an
// interface in a running pod and keeps network-status current.

const unavailable = braidUnavailable();
const UID = 'uid-web';

function post(socketPath: string, path: string, body: unknown): Promise<{ status: number; body: string }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let out = '';
        res.on('data', (c) => (out += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: out }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

describe.skipIf(unavailable !== undefined)("braid-agent serving Multus' daemon API", () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let agent: AgentProcess;
  let master: string;

  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
    master = await bed.nodeVeth();
    kube.api.setNad('default', 'mv', JSON.stringify(macvlanConf('mv', master, '10.10.1.0/24', bed.ipamDir)));
    kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'mv' } });
    // Multus' daemon config: laid over every shim call's conf, as Multus' daemon does.
    const daemonConfig = join(bed.root, 'daemon-config.json');
    writeFileSync(
      daemonConfig,
      JSON.stringify({ namespaceIsolation: true, cniDir: join(bed.root, 'multus'), socketDir: '/run/multus/' }),
    );
    agent = await startAgentProcess(agentBinaryBeside(braidBinary()), {
      node: bed.node,
      socketPath: join(bed.root, 'run', 'multus.sock'),
      cacheDir: bed.cniDir,
      args: ['--kubeconfig', kube.kubeconfig, '--node-name', 'node-a', '--multus-daemon-config', daemonConfig],
    });
  });
  afterEach(async () => {
    await agent?.stop();
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const args = (containerId: string) =>
    `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=${UID}`;
  /** The shim's request: the whole environment and the conf it got on stdin. */
  const shim = (command: string, containerId: string, netns = bed.pod, conf: unknown = kube.conf(bed.conf())) => ({
    env: pluginEnv({
      command,
      containerId,
      netns,
      ifname: 'eth0',
      args: args(containerId),
      path: [bed.spyDir, '/usr/lib/cni'],
    }),
    config: b64({ ...(conf as object), type: 'multus-shim' }),
  });

  it("answers the shim's POST /cni as braid's own front door answers, and POST /healthz", async () => {
    expect((await post(agent.socketPath, '/healthz', undefined)).status).toBe(200);
    const viaShim = await post(agent.socketPath, '/cni', shim('ADD', `${bed.containerId}-shim`));
    expect(viaShim.status, viaShim.body).toBe(200);
    const shimResult = (JSON.parse(viaShim.body) as { result: Record<string, any> }).result;

    const other = await bed.newPod();
    const direct = expectOk(
      await bed.run('ADD', {
        conf: kube.conf(bed.conf({ agentSocket: agent.socketPath })),
        netns: other,
        containerId: `${bed.containerId}-direct`,
        args: args(`${bed.containerId}-direct`),
      }),
    )!;

    expect(shimResult.cniVersion).toBe('1.0.0');
    const shape = (r: Record<string, any>) => ({
      interfaces: r.interfaces.map((i: { name: string; sandbox?: string }) => [
        i.name.replace(/^veth.*/, 'veth*'),
        Boolean(i.sandbox),
      ]),
      ips: r.ips.map((ip: { address: string }) => ip.address.replace(/\.\d+\//, '.x/')),
      routes: r.routes,
    });
    expect(shape(shimResult)).toEqual(shape(direct));
    expect([...(await podInterfaces(bed.pod)).keys()].sort()).toEqual(['eth0', 'net1']);

    const bad = await post(agent.socketPath, '/cni', {
      ...shim('ADD', `${bed.containerId}-bad`),
      config: b64('{"cniVersion":"1.0.0"'),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/JSON/);

    expect((await post(agent.socketPath, '/cni', shim('DEL', `${bed.containerId}-shim`))).status).toBe(200);
    expectOk(
      await bed.run('DEL', {
        conf: kube.conf(bed.conf({ agentSocket: agent.socketPath })),
        netns: other,
        containerId: `${bed.containerId}-direct`,
        args: args(`${bed.containerId}-direct`),
      }),
    );
    await bed.expectNothingLeft();
  });

  it("lays Multus' daemon config over the shim's conf: namespaceIsolation from it refuses another namespace's NAD", async () => {
    kube.api.setNad('other', 'mv2', JSON.stringify(macvlanConf('mv2', master, '10.30.0.0/24', bed.ipamDir)));
    kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'other/mv2' } });
    const { cniDir: _own, ...shimConf } = kube.conf(bed.conf());

    const r = await post(agent.socketPath, '/cni', shim('ADD', bed.containerId, bed.pod, shimConf));

    expect(r.status).toBe(400);
    expect(r.body).toMatch(/other/);
    expect(r.body).toMatch(/namespaceIsolation|isolation/i);
    await bed.expectNothingLeft();
  });

  it('POST /delegate adds and removes an interface in a running pod, with network-status updated', async () => {
    const conf = kube.conf(bed.conf({ agentSocket: agent.socketPath }));
    expectOk(await bed.run('ADD', { conf, args: args(bed.containerId) }));
    const status = () =>
      JSON.parse(kube.api.pod('default', 'web')!.metadata.annotations![ANN_STATUS]!) as {
        interface?: string;
        name: string;
        ips?: string[];
      }[];
    expect(status().map((s) => s.interface)).toEqual(['eth0', 'net1']);
    const hot = JSON.stringify(macvlanConf('hot', master, '10.20.0.0/24', bed.ipamDir));
    const delegate = (command: string, ifname: string) => ({
      env: pluginEnv({
        command,
        containerId: bed.containerId,
        netns: bed.pod,
        ifname,
        args: args(bed.containerId),
        path: '/usr/lib/cni',
      }),
      config: b64(hot),
      interfaceAttributes: { ipRequest: [], macRequest: '' },
    });

    const added = await post(agent.socketPath, '/delegate', delegate('ADD', 'net2'));
    expect(added.status, added.body).toBe(200);
    expect((JSON.parse(added.body) as { result: { ips: { address: string }[] } }).result.ips[0]!.address).toBe(
      '10.20.0.2/24',
    );
    expect((await podInterfaces(bed.pod)).get('net2')?.ips).toEqual(['10.20.0.2']);
    expect(status().find((s) => s.interface === 'net2')).toMatchObject({ name: 'default/hot', ips: ['10.20.0.2'] });

    const removed = await post(agent.socketPath, '/delegate', delegate('DEL', 'net2'));
    expect(removed.status, removed.body).toBe(200);
    expect(await bed.linkNames()).not.toContain('net2');
    expect(bed.leases()).not.toContain('hot/10.20.0.2');
    expect(status().map((s) => s.interface)).toEqual(['eth0', 'net1']);

    // Hot-plugged and left: the pod's DEL frees it with the rest.
    expect((await post(agent.socketPath, '/delegate', delegate('ADD', 'net3'))).status).toBe(200);
    expectOk(await bed.run('DEL', { conf, args: args(bed.containerId) }));
    await bed.expectNothingLeft();
  });
});
