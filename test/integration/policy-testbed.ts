/**
 * A policy test bed: a throwaway "host" namespace (where delegates make their host-side devices
 * and where braid runs, via setns), pod namespaces, temp policy/pod/cache stores and a
 * throwaway pin root. Pods get interfaces from Debian's real CNI plugins; braid's policy runtime
 * attaches to them as ADD would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { withNetns } from '../../src/bpf/netns.ts';
import { admission } from '../../src/policy/admission.ts';
import {
  attachPodInterfaces,
  detachPodInterfaces,
  type AttachedInterface,
  type PolicyWork,
} from '../../src/policy/attach.ts';
import { recordPodEntry, type PodInterface } from '../../src/policy/pod-entries.ts';
import { detachContainer } from '../../src/policy/release.ts';
import { stateDirOf } from '../../src/policy/runtime.ts';
import { localPolicySource } from '../../src/policy/source.ts';
import { reconcileAll } from '../../src/policy/node-reconcile.ts';
import type { PolicyRuntimeOptions, ReconcileReport } from '../../src/policy/runtime.ts';
import { policyStatus, type InterfacePolicyStatus } from '../../src/policy/show.ts';
import { PolicyStore } from '../../src/policy/store.ts';
import { buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import { createNetns, type Netns } from '../helpers/netns.ts';
import { echoReaches, startEchoServer, type Protocol } from '../helpers/traffic.ts';
import { runPlugin } from '../helpers/run-plugin.ts';
import { makeTempDir } from '../helpers/tmp.ts';

export interface TestPod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ns: Netns;
  containerId: string;
  /** Addresses per network. */
  ips: Record<string, string[]>;
  attached: AttachedInterface[];
}

export interface PolicyTestbed {
  host: Netns;
  pins: PinRoot;
  opts: PolicyRuntimeOptions;
  pod(name: string, labels: Record<string, string>, namespace?: string): Promise<TestPod>;
  /**
   * Runs a CNI plugin ADD for the pod (host side in the test bed's host namespace): Debian's
   * /usr/lib/cni/<type>, or `bin`. Returns the addresses of the result.
   */
  plugin(
    pod: TestPod,
    type: string,
    conf: Record<string, unknown>,
    o?: { ifname?: string; bin?: string; env?: Record<string, string> },
  ): Promise<string[]>;
  /** What braid's ADD does after the delegate: the network-status in the pod store, then attach. */
  attach(
    pod: TestPod,
    network: string,
    ifname: string,
    ips: string[],
    placement?: 'auto' | 'pod',
    mac?: string,
  ): AttachedInterface[];
  /**
   * What braid's ADD does with policy on: programs only where a policy selects the interface,
   * other interfaces updated where a policy names the pod; returns what it touched.
   */
  admit(pod: TestPod, network: string, ifname: string, ips: string[]): PolicyWork;
  /** braid's DEL of the pod (by container id); returns what it touched. */
  release(pod: TestPod): PolicyWork;
  detach(pod: TestPod): void;
  apply(yaml: string): ReconcileReport;
  deletePolicy(namespace: string, name: string): ReconcileReport;
  status(): InterfacePolicyStatus[];
  cleanup(): Promise<void>;
}

/** New IPv6 addresses of the pod are usable at once (no duplicate address detection in throwaway namespaces). */
export async function disableDad(p: TestPod): Promise<void> {
  for (const key of ['all', 'default']) await p.ns.nsenter(['sysctl', '-qw', `net.ipv6.conf.${key}.accept_dad=0`]);
}

export async function makePolicyTestbed(): Promise<PolicyTestbed> {
  buildBpfObjects();
  const host = await createNetns('braid-t-phost');
  await host.ip(['link', 'set', 'lo', 'up']);
  const pins = makePinRoot();
  const dir = makeTempDir('braid-t-policy');
  const opts: PolicyRuntimeOptions = {
    bpfRoot: pins.path,
    policyDir: join(dir, 'policies'),
    podDir: join(dir, 'pods'),
    cacheDir: join(dir, 'cache'),
  };
  const pods: TestPod[] = [];
  let seq = 0;
  const writeManifest = (p: TestPod) => {
    const status = Object.entries(p.ips).map(([name, ips]) => ({ name, interface: 'net1', ips, default: false }));
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: p.labels,
        annotations: { 'k8s.v1.cni.cncf.io/network-status': JSON.stringify(status) },
      },
    };
    const file = join(opts.podDir, p.namespace, `${p.name}.yaml`);
    mkdirSync(join(opts.podDir, p.namespace), { recursive: true });
    writeFileSync(file, stringify(manifest));
  };
  const tb: PolicyTestbed = {
    host,
    pins,
    opts,
    async pod(name, labels, namespace = 'test') {
      const ns = await createNetns('braid-t-ppod');
      await ns.ip(['link', 'set', 'lo', 'up']);
      const p: TestPod = {
        name,
        namespace,
        labels,
        ns,
        containerId: `c${++seq}${Date.now().toString(16)}`,
        ips: {},
        attached: [],
      };
      pods.push(p);
      return p;
    },
    async plugin(pod, type, conf, o = {}) {
      const r = await runPlugin(o.bin ?? `/usr/lib/cni/${type}`, {
        command: 'ADD',
        containerId: pod.containerId,
        netns: pod.ns,
        ifname: o.ifname ?? 'net1',
        hostNetns: host,
        stdin: { cniVersion: '1.0.0', name: `t-${type}`, type, ...conf },
        ...(o.env ? { extraEnv: o.env } : {}),
      });
      if (r.code !== 0) throw new Error(`${type} ADD failed: ${r.stdout} ${r.stderr}`);
      return ((r.json?.ips ?? []) as { address: string }[]).map((i) => i.address.split('/')[0]!);
    },
    attach(pod, network, ifname, ips, placement, mac) {
      pod.ips[network] = ips;
      writeManifest(pod);
      const iface = {
        containerId: pod.containerId,
        pod: { namespace: pod.namespace, name: pod.name },
        network,
        ifname,
        netns: pod.ns.path,
        ips,
        ...(placement ? { placement } : {}),
        ...(mac ? { mac } : {}),
      };
      const attached = withNetns(host.path, () => attachPodInterfaces([iface], opts));
      pod.attached.push(...attached);
      return attached;
    },
    admit(pod, network, ifname, ips) {
      pod.ips[network] = ips;
      writeManifest(pod);
      const iface: PodInterface = {
        containerId: pod.containerId,
        pod: { namespace: pod.namespace, name: pod.name },
        network,
        ifname,
        netns: pod.ns.path,
        ips,
      };
      const source = localPolicySource(opts);
      const plan = admission(stateDirOf(opts), source, [iface]);
      let work: PolicyWork = { attached: 0, touched: 0, written: 0, deleted: 0 };
      if (plan.selected.length === 0 && !plan.changesPeers) {
        recordPodEntry(stateDirOf(opts), source.pod(pod.namespace, pod.name), [iface], []);
        return work;
      }
      const attached = withNetns(host.path, () =>
        attachPodInterfaces(plan.selected, opts, { source, podInterfaces: [iface], report: (w) => (work = w) }),
      );
      pod.attached.push(...attached);
      return work;
    },
    release(pod) {
      let work: PolicyWork = { attached: 0, touched: 0, written: 0, deleted: 0 };
      withNetns(host.path, () => detachContainer(pod.containerId, opts, { report: (w) => (work = w) }));
      pod.attached = [];
      return work;
    },
    detach(pod) {
      withNetns(host.path, () => detachPodInterfaces(pod.attached, opts));
      pod.attached = [];
    },
    apply(yaml) {
      const file = join(dir, `apply-${++seq}.yaml`);
      writeFileSync(file, yaml);
      new PolicyStore(opts.policyDir).apply([file]);
      return withNetns(host.path, () => reconcileAll(opts));
    },
    deletePolicy(namespace, name) {
      new PolicyStore(opts.policyDir).delete(namespace, name);
      return withNetns(host.path, () => reconcileAll(opts));
    },
    status: () => withNetns(host.path, () => policyStatus(opts)),
    async cleanup() {
      for (const p of pods) {
        try {
          if (p.attached.length) tb.detach(p);
        } catch {
          // the pin root goes below anyway
        }
        await p.ns.destroy();
      }
      await host.destroy();
      pins.cleanup();
    },
  };
  return tb;
}

/**
 * Whether `client` gets an echo from `server` at addr:port (a fixed port: policies name ports);
 * the server lives for this one attempt, the client waits 1 s.
 */
export async function podReaches(
  server: TestPod,
  client: TestPod,
  addr: string,
  port: number,
  proto: Protocol = 'tcp',
): Promise<boolean> {
  const echo = await startEchoServer(server.ns, proto, addr, port, 20_000);
  try {
    return await echoReaches(client.ns, proto, addr, port, { timeoutMs: 1_000 });
  } finally {
    echo.stop();
  }
}
