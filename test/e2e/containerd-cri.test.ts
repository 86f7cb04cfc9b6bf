import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  bridgeClusterConflist,
  hex,
  REAL_PLUGINS,
} from '../helpers/braid-fixture.ts';
import { containerdUnavailable, startContainerd, type Containerd } from '../helpers/containerd.ts';
import { criClient, type CriClient, type SandboxConfig } from '../helpers/cri-client.ts';
import { mustRun } from '../helpers/exec.ts';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { buildPauseImage } from '../helpers/pause-image.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from '../integration/agent-testbed.ts';

/**
 * kubelet's path to braid: containerd's CRI plugin (Debian's containerd 1.6, configured by the
 * test: its own root, state, socket, CNI dirs; runc with cgroupfs; the native snapshotter) runs a
 * pod sandbox for a CRI client speaking runtime.v1 as kubelet does, and calls braid from its CNI
 * conf dir. braid has no API server and no pod store: the pod's annotations reach it only through
 * the runtime's io.kubernetes.cri.pod-annotations capability; NADs come from a local directory.
 */
const skip = braidUnavailable() ?? containerdUnavailable();
const PAUSE = 'localhost/braid-t-pause:1';
const CLUSTER = '10.89.0';
/** The sandboxes' cgroup parent (cgroupfs): the test's own, removed after the suite. */
const CGROUP_PARENT = `/braid-t-cri-${hex(4)}`;

/** rmdir of the (empty, once the sandboxes are gone) cgroup directories under `parent` in every hierarchy. */
function removeCgroups(parent: string): void {
  const root = '/sys/fs/cgroup';
  for (const hierarchy of existsSync(root) ? readdirSync(root) : []) {
    const top = join(root, hierarchy, parent);
    if (!existsSync(top)) continue;
    const dirs = (d: string): string[] => [
      ...readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .flatMap((e) => dirs(join(d, e.name))),
      d,
    ];
    for (const d of dirs(top)) rmdirSync(d);
  }
}

describe.skipIf(skip)(`containerd CRI runs pod sandboxes through braid${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir = '';
  let node: Netns;
  let containerd: Containerd | undefined;
  let cri: CriClient | undefined;
  let pins: PinRoot | undefined;
  let agent: AgentProcess | undefined;
  const paths = (sub: string) => join(dir, sub);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'braid-t-cri-'));
    for (const d of ['bin', 'net.d', 'nads', 'pods', 'cache', 'ipam', 'netconf', 'logs', 'image', 'policies', 'run'])
      mkdirSync(paths(d));
    node = await createNetns('braid-t-node');
    await node.ip(['link', 'set', 'lo', 'up']);
    const master = `vm${hex(3)}`;
    await node.ip(['link', 'add', master, 'type', 'veth', 'peer', 'name', `${master}p`]);
    for (const l of [master, `${master}p`]) await node.ip(['link', 'set', l, 'up']);
    pins = makePinRoot();
    buildBpfObjects();

    // The CNI bin dir: braid and Debian's plugins.
    symlinkSync(braidBinary(), paths('bin/braid'));
    for (const p of ['bridge', 'macvlan', 'host-local', 'loopback'])
      symlinkSync(join(REAL_PLUGINS, p), paths(`bin/${p}`));
    const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir: paths('ipam'), ranges: [[{ subnet }]] });
    writeFileSync(
      paths('cluster.conflist'),
      JSON.stringify(bridgeClusterConflist({ ...hostLocal(`${CLUSTER}.0/24`), routes: [{ dst: '0.0.0.0/0' }] })),
    );
    for (const [name, subnet] of [
      ['lan', '192.168.93.0/24'],
      ['lan2', '192.168.94.0/24'],
    ] as const) {
      const config = { cniVersion: '1.0.0', name, type: 'macvlan', master, mode: 'bridge', ipam: hostLocal(subnet) };
      writeFileSync(
        paths(`nads/${name}.yaml`),
        stringifyYaml({
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: { name, namespace: 'default' },
          spec: { config: JSON.stringify(config) },
        }),
      );
    }
    writeFileSync(
      paths('net.d/10-braid.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'braid-cni-network',
        plugins: [
          {
            type: 'braid',
            capabilities: { 'io.kubernetes.cri.pod-annotations': true },
            clusterNetwork: paths('cluster.conflist'),
            confDir: paths('netconf'),
            cniDir: paths('cache'),
            binDir: paths('bin'),
            nadDir: paths('nads'),
            podDir: paths('pods'),
            agentSocket: paths('run/braid.sock'),
            policy: { enabled: true, bpfRoot: pins.path, policyDir: paths('policies') },
          },
        ],
      }),
    );

    containerd = await startContainerd({
      dir: paths('containerd'),
      nodeNetns: node.path,
      cniBinDir: paths('bin'),
      cniConfDir: paths('net.d'),
      sandboxImage: PAUSE,
      env: { BRAID_BPF_DIR: bpfObjectDir },
    });
    const imported = await containerd.ctr([
      'images',
      'import',
      '--snapshotter',
      'native',
      await buildPauseImage(paths('image'), PAUSE),
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    expect((await containerd.ctr(['images', 'ls', '-q'])).stdout.split('\n')).toContain(PAUSE);
    cri = criClient(containerd.socket);
  }, 120_000);

  afterAll(async () => {
    for (const s of (await cri?.listPodSandbox().catch(() => [])) ?? []) {
      await cri?.stopPodSandbox(s.id).catch(() => undefined);
      await cri?.removePodSandbox(s.id).catch(() => undefined);
    }
    await agent?.stop();
    cri?.close();
    await containerd?.stop();
    await destroyAllNetns();
    pins?.cleanup();
    removeCgroups(CGROUP_PARENT);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const sandbox = (annotations: Record<string, string>): SandboxConfig => {
    const name = `web-${hex(3)}`;
    return {
      metadata: { name, namespace: 'default', uid: `uid-${hex(6)}`, attempt: 0 },
      hostname: name,
      log_directory: paths('logs'),
      annotations: { 'kubernetes.io/config.source': 'api', ...annotations },
      linux: { cgroup_parent: CGROUP_PARENT },
    };
  };

  const entries = (d: string): string[] => (existsSync(d) ? readdirSync(d).sort() : []);
  const leases = (): string[] =>
    entries(paths('ipam')).flatMap((net) =>
      entries(join(paths('ipam'), net))
        .filter((f) => /^\d/.test(f))
        .map((f) => `${net}/${f}`),
    );

  async function expectNothingLeft(): Promise<void> {
    expect(await cri!.listPodSandbox(), 'sandboxes left').toEqual([]);
    expect(leases(), 'host-local reservations left').toEqual([]);
    expect(
      entries(paths('cache')).filter((f) => f.endsWith('.json')),
      'braid cache records left',
    ).toEqual([]);
    expect(entries(join(pins!.path, 'mnp', 'links')), 'pinned policy links left').toEqual([]);
    expect(entries(paths('containerd/state/netns')), 'pod network namespaces left').toEqual([]);
    const links = (await node.ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname);
    expect(
      links.filter((l) => l.startsWith('veth')),
      'host-side veths left',
    ).toEqual([]);
  }

  it('RunPodSandbox gives the pod the cluster IP and every requested interface; stop and remove leave nothing', async () => {
    // A policy in the local store for lan only: it selects net1; data and eth0 get no programs.
    const policyFile = paths('policies/default/lan-isolated.json');
    mkdirSync(paths('policies/default'), { recursive: true });
    writeFileSync(
      policyFile,
      JSON.stringify({
        apiVersion: 'k8s.cni.cncf.io/v1beta1',
        kind: 'MultiNetworkPolicy',
        metadata: {
          name: 'lan-isolated',
          namespace: 'default',
          annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'lan' },
        },
        spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [] },
      }),
    );
    const id = await cri!.runPodSandbox(sandbox({ [ANN_NETWORKS]: 'lan,lan2@data' }));
    // The policy did its part at ADD; the later tests run without it.
    rmSync(policyFile);
    const { status, info } = await cri!.podSandboxStatus(id);
    expect(status.state).toBe('SANDBOX_READY');
    // What kubelet records as the pod IP: the cluster network's, from braid's result.
    expect(status.network?.ip).toMatch(new RegExp(`^${CLUSTER.replaceAll('.', '\\.')}\\.\\d+$`));
    const pid = (JSON.parse(info.info!) as { pid: number }).pid;
    const addrs = JSON.parse(
      await mustRun(['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'ip', '-j', 'addr', 'show']),
    ) as { ifname: string; addr_info: { local: string; scope: string }[] }[];
    const byName = Object.fromEntries(
      addrs.map((a) => [a.ifname, a.addr_info.filter((i) => i.scope === 'global').map((i) => i.local)]),
    );
    expect(Object.keys(byName).sort()).toEqual(['data', 'eth0', 'lo', 'net1']);
    expect(byName.eth0).toEqual([status.network!.ip]);
    expect(byName.net1).toEqual([expect.stringMatching(/^192\.168\.93\.\d+$/)]);
    expect(byName.data).toEqual([expect.stringMatching(/^192\.168\.94\.\d+$/)]);
    // No API server, an empty pod store: the annotation came with the runtime's capability args.
    expect(entries(paths('pods'))).toEqual([]);
    // One link slot (mnp/links/<id>/{in,out}): net1's.
    const slots = entries(join(pins!.path, 'mnp', 'links'));
    expect(slots, 'policy link slots: net1 only').toHaveLength(1);
    expect(entries(join(pins!.path, 'mnp', 'links', slots[0]!))).toEqual(['in', 'out']);

    await cri!.stopPodSandbox(id);
    await cri!.removePodSandbox(id);
    await expectNothingLeft();
  });

  it.each([
    ['an unknown NAD', 'nope', /NetworkAttachmentDefinition default\/nope not found/],
    ['an invalid annotation', '[{"name": 5}]', /annotation k8s\.v1\.cni\.cncf\.io\/networks element 0/],
  ])("%s fails RunPodSandbox with braid's message and leaves nothing", async (_what, value, message) => {
    const err = await cri!.runPodSandbox(sandbox({ [ANN_NETWORKS]: value })).then(
      () => undefined,
      (e: Error & { details?: string }) => e,
    );
    expect(err, 'RunPodSandbox failed').toBeDefined();
    // The gRPC status kubelet logs carries the runtime's "failed to setup network" and braid's error.
    expect(err!.details ?? err!.message).toMatch(message);
    await expectNothingLeft();
  });

  it("with braid-agent serving braid's socket, the same sandbox is set up by the agent (thick mode) and torn down to nothing", async () => {
    // The agent runs where containerd runs delegates: its network and mount namespaces (pod netns
    // paths under containerd's state dir exist only in the latter).
    const wrapper = paths('agent-in-containerd-ns');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec nsenter --mount=${containerd!.mountNamespace} -- ${agentBinaryBeside(braidBinary())} "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    agent = await startAgentProcess(wrapper, {
      node,
      socketPath: paths('run/braid.sock'),
      cacheDir: paths('cache'),
      env: { BRAID_BPF_DIR: bpfObjectDir },
    });

    const id = await cri!.runPodSandbox(sandbox({ [ANN_NETWORKS]: 'lan' }));
    const { status, info } = await cri!.podSandboxStatus(id);
    expect(status.network?.ip).toMatch(new RegExp(`^${CLUSTER.replaceAll('.', '\\.')}\\.\\d+$`));
    const pid = (JSON.parse(info.info!) as { pid: number }).pid;
    const links = JSON.parse(
      await mustRun(['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'ip', '-j', 'link', 'show']),
    ) as { ifname: string }[];
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo', 'net1']);
    expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}')).toBe(1);
    // No policy in the local store selects the pod: no programs on any of its interfaces.
    expect(entries(join(pins!.path, 'mnp', 'links')), 'no policy links without a selecting policy').toEqual([]);

    await cri!.stopPodSandbox(id);
    await cri!.removePodSandbox(id);
    expect(await agent.metric('braid_agent_requests_total{verb="DEL",code="0"}')).toBeGreaterThanOrEqual(1);
    await expectNothingLeft();
  });
});
