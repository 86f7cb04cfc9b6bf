import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_STATUS,
  braidUnavailable,
  bridgeClusterConflist,
  hex,
  REAL_PLUGINS,
} from '../helpers/braid-fixture.ts';
import { podmanRunArgs, readManifests, type KubeletView } from '../helpers/daemonset-podman.ts';
import { runCommand, type CommandResult } from '../helpers/exec.ts';
import { makeTestPki } from '../helpers/fake-apiserver.ts';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';
import { createFakeHost, type FakeHost } from '../helpers/fake-host.ts';
import { openNetnsGateway, type NetnsGateway } from '../helpers/kube-fixture.ts';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { createPodman, podmanUnavailable, type Podman } from '../helpers/podman.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { getOverSocket } from '../integration/agent-testbed.ts';
import { IMAGE_NAME, useImage } from './image-build.ts';

/**
 * The DaemonSet of examples/kubernetes, run as written with podman: the test reads the manifests
 * and starts braid's image (built by scripts/build-image.mjs from these sources) with the pod's
 * commands, environment, volumes (propagation included), host network and PID namespace and
 * privileges (test/helpers/daemonset-podman.ts). The "host" is a temp dir (test/helpers/fake-host.ts)
 * whose hostPath volumes these are, with the node's network namespace a test namespace, and a
 * loopback API server (TLS, a service account token) behind kubelet's in-cluster variables.
 * Host-side CNI calls run chrooted into the temp host, as a runtime there would make them.
 */
/** openssl makes the API server's certificate; curl is kubelet's probes. */
const missingTool = ['/usr/bin/openssl', '/usr/bin/curl'].find((f) => !existsSync(f));
const skip = braidUnavailable() ?? podmanUnavailable() ?? (missingTool ? `needs ${missingTool}` : undefined);
const MANIFESTS = join(import.meta.dirname, '../../examples/kubernetes');
const NODE = 'node-a';
const POD = { namespace: 'default', name: 'web', uid: `uid-${hex(4)}` };

interface Scene {
  host: FakeHost;
  podman: Podman;
  node: Netns;
  pod: Netns;
  api: FakeWatchApiServer;
  gateway: NetnsGateway;
}
let scene: Scene | undefined;

afterEach(async () => {
  const s = scene;
  scene = undefined;
  // Every step runs whatever the one before did; the first failure is reported after all of them.
  const steps = [
    () => s?.podman.destroy(),
    () => s?.gateway.close(),
    () => s?.api.close(),
    () => s?.host.destroy(),
    () => destroyAllNetns(),
  ];
  const failures: unknown[] = [];
  for (const step of steps)
    await Promise.resolve()
      .then(step)
      .catch((e: unknown) => failures.push(e));
  cleanupTemps();
  if (failures.length > 0) throw failures[0];
});

const entries = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe.skipIf(skip)(`examples/kubernetes DaemonSet under podman${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const image = useImage();

  async function setUp(): Promise<Scene & { kubelet: KubeletView; lanMaster: string }> {
    const node = await createNetns('braid-t-node');
    await node.ip(['link', 'set', 'lo', 'up']);
    const pod = await createNetns('braid-t-pod');
    const lanMaster = `vm${hex(3)}`;
    await node.ip(['link', 'add', lanMaster, 'type', 'veth', 'peer', 'name', `${lanMaster}p`]);
    for (const l of [lanMaster, `${lanMaster}p`]) await node.ip(['link', 'set', l, 'up']);

    const host = await createFakeHost();
    const podman = createPodman([REAL_PLUGINS], {}, { mountNamespace: host.mountNamespace });
    // The node before braid: Debian's plugins in /opt/cni/bin and a primary network's conf.
    const bin = join(host.root, 'opt/cni/bin');
    mkdirSync(bin, { recursive: true });
    for (const p of ['bridge', 'macvlan', 'host-local', 'loopback']) copyFileSync(join(REAL_PLUGINS, p), join(bin, p));
    mkdirSync(join(host.root, 'etc/cni/net.d'), { recursive: true });
    writeFileSync(
      join(host.root, 'etc/cni/net.d/10-cluster.conflist'),
      JSON.stringify(
        bridgeClusterConflist({
          type: 'host-local',
          ranges: [[{ subnet: '10.88.0.0/24' }]],
          routes: [{ dst: '0.0.0.0/0' }],
        }),
      ),
    );
    for (const d of ['var/lib/kubelet', 'etc/cni/multus/net.d']) mkdirSync(join(host.root, d), { recursive: true });

    // The cluster: TLS with a service account token, reachable on 127.0.0.1 in the node namespace.
    const scratch = makeTempDir('braid-t-kubelet');
    const pki = makeTestPki(scratch)!;
    const token = `token-${hex(8)}`;
    const api = await FakeWatchApiServer.startWatchable({
      tls: { cert: pki.serverCert, key: pki.serverKey },
      tokens: [token],
    });
    const gateway = await openNetnsGateway(node.path, () => Number(new URL(api.url).port));
    api.putNamespace('default');
    api.setNad(
      'default',
      'lan',
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'lan',
        type: 'macvlan',
        master: lanMaster,
        mode: 'bridge',
        ipam: { type: 'host-local', ranges: [[{ subnet: '192.168.91.0/24' }]] },
      }),
    );
    api.putPod({ ...POD, nodeName: NODE, annotations: { [ANN_NETWORKS]: 'lan' } });
    const serviceAccountDir = join(scratch, 'serviceaccount');
    mkdirSync(serviceAccountDir);
    writeFileSync(join(serviceAccountDir, 'token'), token);
    writeFileSync(join(serviceAccountDir, 'ca.crt'), pki.caCert);
    writeFileSync(join(serviceAccountDir, 'namespace'), 'kube-system');

    const load = await podman.podman(['load', '-i', image.archive]);
    expect(load.code, load.stderr).toBe(0);
    const kubelet: KubeletView = {
      nodeName: NODE,
      hostRoot: host.root,
      hostNetns: node.path,
      scratch,
      serviceAccountDir,
      serviceEnv: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(gateway.port) },
    };
    scene = { host, podman, node, pod, api, gateway };
    return { ...scene, kubelet, lanMaster };
  }

  /** What the container runtime on the host does: run the conf's first plugin, chrooted into the host. */
  async function hostCni(
    s: Scene,
    verb: string,
    containerId: string,
  ): Promise<CommandResult & { json: Record<string, any> | undefined }> {
    const list = JSON.parse(readFileSync(join(s.host.root, 'etc/cni/net.d/00-braid.conflist'), 'utf8')) as {
      cniVersion: string;
      name: string;
      plugins: Record<string, unknown>[];
    };
    const env = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: verb,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: s.pod.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD.namespace};K8S_POD_NAME=${POD.name};K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=${POD.uid}`,
    };
    const input = JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] });
    const r = await runCommand(
      s.host.inMounts(['nsenter', `--net=${s.node.path}`, '--', image.chroot, s.host.root, '/opt/cni/bin/braid']),
      { env, input, timeoutMs: 90_000 },
    );
    let json: Record<string, any> | undefined;
    try {
      json = JSON.parse(r.stdout) as Record<string, any>;
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /** Files under a path of the fake host's bpffs (it exists only in the host's mount namespace). */
  async function pinned(s: Scene, sub: string): Promise<string[]> {
    const r = await runCommand(s.host.inMounts(['ls', '-1', join(s.host.root, 'sys/fs/bpf', sub)]));
    return r.code === 0
      ? r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .sort()
      : [];
  }

  async function linkNames(ns: Netns): Promise<string[]> {
    return (await ns.links()).map((l) => l.ifname).sort();
  }

  async function expectNothingLeft(s: Scene): Promise<void> {
    expect(await linkNames(s.pod), 'links left in the pod').toEqual(['lo']);
    const networks = join(s.host.root, 'var/lib/cni/networks');
    for (const net of entries(networks))
      expect(
        entries(join(networks, net)).filter((f) => /^\d/.test(f)),
        `reservations left in ${net}`,
      ).toEqual([]);
    expect(
      entries(join(s.host.root, 'var/lib/cni/braid')).filter((f) => f.endsWith('.json')),
      'cache records left',
    ).toEqual([]);
    expect(await pinned(s, 'braid/v1/mnp/links'), 'pinned policy links left').toEqual([]);
  }

  it('init installs into the host, the agent serves pod ADD/DEL from the host side, and thin mode takes over when it stops', async () => {
    const s = await setUp();
    const manifests = readManifests(MANIFESTS);
    const run = async (name: string, detached: boolean): Promise<{ id: string; result: CommandResult }> => {
      const c = [...manifests.pod.initContainers, ...manifests.pod.containers].find((x) => x.name === name)!;
      expect(c.image).toBe(IMAGE_NAME);
      const { flags, image: ref, command } = podmanRunArgs(manifests, c, s.kubelet);
      const result = await s.podman.podman(
        ['run', ...(detached ? ['-d'] : ['--rm']), ...flags, ref, ...command],
        60_000,
      );
      return { id: result.stdout.trim(), result };
    };

    // The init container: binaries, kubeconfig and braid's conf into the host.
    const init = (await run('install', false)).result;
    expect(init.code, init.stderr).toBe(0);
    expect(entries(join(s.host.root, 'opt/cni/bin'))).toEqual(expect.arrayContaining(['braid', 'braid-veth']));
    const conf = JSON.parse(readFileSync(join(s.host.root, 'etc/cni/net.d/00-braid.conflist'), 'utf8'));
    expect(conf.plugins[0].clusterNetwork).toBe('/etc/cni/net.d/10-cluster.conflist');
    expect(conf.plugins[0].kubeconfig).toBe('/etc/cni/net.d/braid.d/braid.kubeconfig');
    expect(existsSync(join(s.host.root, 'etc/cni/net.d/braid.d/braid.kubeconfig'))).toBe(true);

    // A policy for lan that selects the pod; it reaches the agent through the API, and thin mode
    // only once it is in the node's local policy store (the conf's policyDir).
    const policy = { podSelector: {}, policyTypes: ['Ingress'], ingress: [] };
    s.api.putPolicy(POD.namespace, 'lan-isolated', policy, { 'k8s.v1.cni.cncf.io/policy-for': 'lan' });

    // Thin mode first: the conf is in place, no agent yet; no policy in the local store selects
    // the pod, so none of its interfaces gets programs.
    const cid0 = `ctr-${hex(6)}`;
    const thin0 = await hostCni(s, 'ADD', cid0);
    expect(thin0.code, thin0.stdout + thin0.stderr).toBe(0);
    expect(await linkNames(s.pod)).toEqual(['eth0', 'lo', 'net1']);
    expect(await pinned(s, 'braid/v1/mnp/links'), 'no policy links without a policy in the local store').toEqual([]);
    expect((await hostCni(s, 'DEL', cid0)).code).toBe(0);

    // The agent and the install keeper.
    const agent = await run('agent', true);
    expect(agent.result.code, agent.result.stderr).toBe(0);
    const keeper = await run('install-keeper', true);
    expect(keeper.result.code, keeper.result.stderr).toBe(0);
    // kubelet's probes, as the manifest states them, against the node's network (hostNetwork).
    const spec = manifests.pod.containers.find((c) => c.name === 'agent')!;
    const probe = async (p: { path: string; port: number }) => {
      const r = await s.node.nsenter([
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '--max-time',
        '2',
        '-w',
        '%{http_code}',
        `http://127.0.0.1:${p.port}${p.path}`,
      ]);
      return Number(r.stdout) || 0;
    };
    let ready = 0;
    for (let i = 0; i < 300 && ready !== 200; i++) {
      ready = await probe(spec.readinessProbe!.httpGet!);
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(await probe(spec.livenessProbe!.httpGet!)).toBe(200);
    const socket = join(s.host.root, 'run/braid/braid.sock');
    const logs = async () => (await s.podman.podman(['logs', agent.id])).stderr;
    expect(ready, await logs()).toBe(200);
    expect(await logs()).toContain('delegates run in /host');

    // A pod ADD through the installed braid on the host, handled by the containerised agent.
    const cid = `ctr-${hex(6)}`;
    const add = await hostCni(s, 'ADD', cid);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json?.ips?.[0]?.address).toMatch(/^10\.88\.0\.\d+\/24$/);
    expect(add.stderr).not.toMatch(/doing the work in this process/);
    expect(await linkNames(s.pod)).toEqual(['eth0', 'lo', 'net1']);
    const metrics = (await getOverSocket(socket, '/metrics')).body;
    expect(metrics).toContain('braid_agent_requests_total{verb="ADD",code="0"} 1');
    const status = s.api.pod(POD.namespace, POD.name)?.metadata.annotations?.[ANN_STATUS];
    expect(
      JSON.parse(status ?? '[]').map((n: { name: string; interface?: string }) => `${n.interface}=${n.name}`),
    ).toEqual(['eth0=cluster', 'net1=default/lan']);
    // Only net1 is selected (policy-for lan): one link slot (links/<id>/{in,out}); eth0 gets none.
    expect((await pinned(s, 'braid/v1/mnp/links')).length, 'policy link slots: net1 only').toBe(1);

    expect((await hostCni(s, 'DEL', cid)).code).toBe(0);
    expect((await getOverSocket(socket, '/metrics')).body).toContain(
      'braid_agent_requests_total{verb="DEL",code="0"} 1',
    );
    await expectNothingLeft(s);

    const running = await s.podman.podman(['inspect', '--format', '{{.State.Running}}', keeper.id]);
    expect(running.stdout.trim(), 'install-keeper keeps running (braid install --watch)').toBe('true');

    // The agent container stops: braid on the host does the calls itself, with the policy now in
    // the node's local store.
    expect((await s.podman.podman(['stop', '-t', '10', agent.id])).code).toBe(0);
    const policyDir = join(s.host.root, conf.plugins[0].policy?.policyDir ?? '/etc/cni/braid/policies', POD.namespace);
    mkdirSync(policyDir, { recursive: true });
    writeFileSync(
      join(policyDir, 'lan-isolated.json'),
      JSON.stringify({
        apiVersion: 'k8s.cni.cncf.io/v1beta1',
        kind: 'MultiNetworkPolicy',
        metadata: {
          name: 'lan-isolated',
          namespace: POD.namespace,
          annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'lan' },
        },
        spec: policy,
      }),
    );
    const cid2 = `ctr-${hex(6)}`;
    const thin = await hostCni(s, 'ADD', cid2);
    expect(thin.code, thin.stdout + thin.stderr).toBe(0);
    expect(await linkNames(s.pod)).toEqual(['eth0', 'lo', 'net1']);
    expect((await pinned(s, 'braid/v1/mnp/links')).length, 'policy link slots in thin mode: net1 only').toBe(1);
    expect((await hostCni(s, 'DEL', cid2)).code).toBe(0);
    await expectNothingLeft(s);
  });
});
