import { rmSync } from 'node:fs';
import path from 'node:path';
import { PodStore } from '../k8s/pod-store.ts';
import { ANNOTATION_NETWORKS } from '../k8s/types.ts';
import type { Cleanup } from './cleanup.ts';
import { type DemoBase, type DemoContext, podKey, shown } from './context.ts';
import { DemoNetns, removeNetns } from './netns.ts';
import { compactJson, say, style, table } from './print.ts';
import { newContainerId } from './runtime.ts';
import { applyPolicies } from './policy.ts';
import { NODE, PODS } from './scenario.ts';
import { preparePinRoot } from './bpffs.ts';
import { findCniBin, prepareWorkspace, type Workspace } from './workspace.ts';

/** A namespace whose removal is registered before it exists (see Cleanup). */
async function netns(cleanup: Cleanup, name: string): Promise<DemoNetns> {
  cleanup.add(`ip netns del ${name}`, () => removeNetns(name));
  return DemoNetns.create(name);
}

async function workspace(base: DemoBase): Promise<Workspace> {
  const cniBin = findCniBin();
  const suffix = base.prefix.slice('braid-demo-'.length);
  const bpfRoot = await preparePinRoot(base.cleanup, base.prefix);
  const ws = prepareWorkspace(base.checkout, suffix, cniBin, bpfRoot);
  // Registered after creation: prepareWorkspace makes a fresh directory or fails without one.
  base.cleanup.add(`rm -rf ${ws.dir}`, () => rmSync(ws.dir, { recursive: true, force: true }));
  return ws;
}

/**
 * Step 1: the node namespace with the NICs the NADs name, one namespace per pod sandbox, and
 * the demo's copy of examples/demo.
 */
export async function setUpNode(base: DemoBase): Promise<DemoContext> {
  base.steps.next('The node: a network namespace standing in for the host');
  const ws = await workspace(base);
  const node = await netns(base.cleanup, `${base.prefix}-node`);
  await node.addVethPair(NODE.lanNic, NODE.lanPeer);
  await node.addVethPair(NODE.storageNic, NODE.storagePeer);
  await node.ip(['addr', 'add', NODE.storagePeerAddress, 'dev', NODE.storagePeer]);

  const pods = [];
  for (const pod of PODS) {
    const ns = await netns(base.cleanup, `${base.prefix}-${pod.name}`);
    pods.push({ pod, sandbox: { namespace: pod.namespace, name: pod.name, containerId: newContainerId(), netns: ns } });
  }

  say(
    `    namespaces ${style.bold(`${base.prefix}-{node,${PODS.map((p) => p.name).join(',')}}`)}, files in ${style.bold(ws.dir)}`,
  );
  say(`    policy pins (bpfRoot) in ${style.bold(ws.bpfRoot)}`);
  say();
  table(
    ['NODE LINK', 'ROLE'],
    [
      [NODE.lanNic, `veth, master of the macvlan NAD default/macvlan-lan (peer ${NODE.lanPeer})`],
      [NODE.storageNic, 'veth, moved into a pod by the host-device NAD default/storage'],
      [NODE.storagePeer, `its peer, ${NODE.storagePeerAddress}: plays the storage array`],
      [NODE.bridge, 'the cluster bridge; the bridge plugin creates it on the first ADD'],
    ],
  );
  say();
  table(
    ['POD', 'SANDBOX NETNS', 'CONTAINER ID'],
    pods.map((p) => [podKey(p.pod), p.sandbox.netns.path, `${p.sandbox.containerId.slice(0, 12)}...`]),
  );

  return {
    ...base,
    ws,
    node,
    pods,
    runtime: { braidBin: base.braidBin, confFile: ws.confFile, cniBin: ws.cniBin, node },
    problems: [],
    tally: {
      interfaces: 0,
      trafficPassed: 0,
      trafficTotal: 0,
      policyPassed: 0,
      policyTotal: 0,
      leftoversChecked: false,
    },
  };
}

/** Step 2: the files braid reads and what the pods ask for. */
export async function showConfiguration(ctx: DemoContext): Promise<void> {
  ctx.steps.next('The configuration braid reads (examples/demo, placeholders filled in)');
  const rel = (f: string) => path.relative(ctx.ws.dir, f);
  table(
    ['FILE', 'WHAT'],
    [
      [
        rel(ctx.ws.confFile),
        `braid's conf, stdin of every call; clusterNetwork = net.d/10-cluster.conflist, policy enabled`,
      ],
      ['net.d/10-cluster.conflist', `cluster network: bridge ${NODE.bridge} + host-local 10.244.0.0/24`],
      ['nads/macvlan-lan.yaml', `NAD: macvlan on ${NODE.lanNic}, host-local 10.10.50.10-99, capabilities.ips`],
      ['nads/storage.yaml', `NAD: host-device ${NODE.storageNic}, static 10.10.60.2/24`],
      ['pods/default/*.yaml', 'the pod store: Pod manifests with the networks annotation and labels'],
      [
        'policies/beta-lan-7000.yaml',
        'MultiNetworkPolicy for macvlan-lan: app=server takes TCP 7000 from app=client only',
      ],
    ],
  );
  const store = new PodStore(ctx.ws.podDir);
  for (const { pod } of ctx.pods) {
    const found = await store.getPod(pod.namespace, pod.name);
    const value = found?.annotations[ANNOTATION_NETWORKS] ?? '(none)';
    say();
    say(
      `    ${style.bold(podKey(pod))}  ${style.dim(`(${pod.form}, ${shown(path.join(ctx.ws.podDir, pod.namespace, `${pod.name}.yaml`))})`)}`,
    );
    say(`      ${ANNOTATION_NETWORKS}: ${compactJson(value)}`);
    say(
      `      labels: ${
        Object.entries(found?.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '(none)'
      }`,
    );
  }
  await applyPolicies(ctx);
}
