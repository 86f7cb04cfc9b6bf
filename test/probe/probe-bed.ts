import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { runCommand } from '../helpers/exec.ts';
import { createNetns, destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { pluginEnv, runPlugin, type PluginRun } from '../helpers/run-plugin.ts';

/**
 * The node the probe plays against: braid runs in a "node" namespace of its own (nsenter), pods
 * are namespaces of their own, every directory (confDir, cniDir, NADs, pods, host-local data)
 * is under one temp dir and the BPF pins under a pin root of their own. `leaks()` lists whatever
 * braid left that it should not have.
 */
export interface ProbeCall {
  containerId: string;
  pod: Netns | string;
  podName?: string;
  conf?: unknown;
  ifname?: string;
  env?: Record<string, string>;
}

const REAL_PLUGINS = '/usr/lib/cni';
export const hex = (n = 4): string => randomBytes(n).toString('hex');

export class ProbeBed {
  readonly root = mkdtempSync(join(tmpdir(), 'braid-t-probe-'));
  readonly confDir = this.dir('conf');
  readonly cniDir = this.dir('cache');
  readonly nadDir = this.dir('nads');
  readonly podDir = this.dir('pods');
  readonly ipamDir = this.dir('ipam');
  readonly pluginDir = this.dir('plugins');
  readonly policyDir = this.dir('policies');
  readonly bpfRoot = `/sys/fs/bpf/braid-t-probe-${hex()}`;
  node!: Netns;
  private baseline = new Set<string>();
  private pods: Netns[] = [];
  /** Files braid keeps aside on purpose (quarantined corrupt records). */
  readonly expectedLeftovers = new Set<string>();

  /** braid-veth and braid-agent default to the files beside `braid`. */
  readonly veth: string;
  readonly agent: string;

  constructor(
    readonly braid: string,
    others: { veth?: string; agent?: string } = {},
  ) {
    this.veth = others.veth ?? join(dirname(braid), 'braid-veth');
    this.agent = others.agent ?? join(dirname(braid), 'braid-agent');
  }

  private dir(name: string): string {
    const d = join(this.root, name);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  }

  async setUp(): Promise<void> {
    this.node = await createNetns('braid-t-probe-node');
    await this.node.ip(['link', 'set', 'lo', 'up']);
    const master = `pm${hex(3)}`;
    await this.node.ip(['link', 'add', master, 'type', 'veth', 'peer', 'name', `${master}p`]);
    await this.node.ip(['link', 'set', master, 'up']);
    for (const l of await this.node.links()) this.baseline.add(l.ifname);
    const ipam = (subnet: string) => ({ type: 'host-local', dataDir: this.ipamDir, ranges: [[{ subnet }]] });
    writeFileSync(
      join(this.confDir, '10-cluster.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'cluster',
        plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipam: ipam('10.88.0.0/16') }],
      }),
    );
    const lan = {
      cniVersion: '1.0.0',
      name: 'lan',
      type: 'macvlan',
      master,
      mode: 'bridge',
      ipam: ipam('10.89.0.0/16'),
    };
    const nad = {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'lan', namespace: 'default' },
      spec: { config: JSON.stringify(lan) },
    };
    writeFileSync(join(this.nadDir, 'default-lan.yaml'), stringify(nad));
  }

  conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: 'braid',
      type: 'braid',
      clusterNetwork: join(this.confDir, '10-cluster.conflist'),
      confDir: this.confDir,
      cniDir: this.cniDir,
      binDir: REAL_PLUGINS,
      nadDir: this.nadDir,
      podDir: this.podDir,
      delegateTimeout: 10,
      // Thin mode unless a check starts an agent and names its socket.
      agentSocket: join(this.root, 'no-agent.sock'),
      policy: { enabled: true, bpfRoot: this.bpfRoot, policyDir: this.policyDir },
      ...extra,
    };
  }

  /** A pod namespace and its manifest (cluster network plus the `lan` NAD). */
  async newPod(
    name = `p-${hex(3)}`,
    annotations: Record<string, string> = { 'k8s.v1.cni.cncf.io/networks': 'lan' },
  ): Promise<{ ns: Netns; name: string }> {
    const ns = await createNetns('braid-t-probe-pod');
    this.pods.push(ns);
    mkdirSync(join(this.podDir, 'default'), { recursive: true });
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: hex(8), labels: { app: name }, annotations },
    };
    writeFileSync(join(this.podDir, 'default', `${name}.yaml`), stringify(pod));
    return { ns, name };
  }

  private options(command: string, c: ProbeCall) {
    return {
      command,
      containerId: c.containerId,
      netns: c.pod,
      ifname: c.ifname ?? 'eth0',
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${c.podName ?? 'none'};K8S_POD_INFRA_CONTAINER_ID=${c.containerId}`,
      path: [this.pluginDir, REAL_PLUGINS],
      stdin: c.conf ?? this.conf(),
      hostNetns: this.node,
      timeoutMs: 30_000,
      ...(c.env ? { extraEnv: c.env } : {}),
    };
  }

  run(command: string, c: ProbeCall, binary = this.braid): Promise<PluginRun> {
    return runPlugin(binary, this.options(command, c));
  }

  /** braid started as the runtime would, for a test that kills it (nsenter execs: the pid is braid's). */
  start(command: string, c: ProbeCall): ChildProcess {
    const o = this.options(command, c);
    const child = spawn('nsenter', [`--net=${this.node.path}`, '--', this.braid], {
      env: pluginEnv(o),
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(o.stdin));
    return child;
  }

  /** Everything braid left that a finished DEL of every container should have removed. */
  async leaks(): Promise<string[]> {
    const out: string[] = [];
    for (const p of this.pods) {
      if (!existsSync(p.path)) continue;
      const extra = (await p.links()).map((l) => l.ifname).filter((n) => n !== 'lo');
      if (extra.length > 0) out.push(`interfaces in pod ${p.name}: ${extra.join(', ')}`);
    }
    const nodeLinks = (
      await this.node.ipJson<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(['-d', 'link', 'show'])
    )
      .filter((l) => !this.baseline.has(l.ifname) && l.linkinfo?.info_kind !== 'bridge')
      .map((l) => l.ifname);
    if (nodeLinks.length > 0) out.push(`interfaces on the node: ${nodeLinks.join(', ')}`);
    const leases = existsSync(this.ipamDir)
      ? readdirSync(this.ipamDir).flatMap((net) =>
          readdirSync(join(this.ipamDir, net))
            .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
            .map((f) => `${net}/${f}`),
        )
      : [];
    if (leases.length > 0) out.push(`host-local leases: ${leases.join(', ')}`);
    const state = existsSync(this.cniDir) ? readdirSync(this.cniDir) : [];
    const files = state.filter(
      (f) => (f.endsWith('.json') || f.includes('.tmp-') || f.includes('.corrupt-')) && !this.expectedLeftovers.has(f),
    );
    if (files.length > 0) out.push(`state files: ${files.join(', ')}`);
    const locks = existsSync(join(this.cniDir, 'locks')) ? readdirSync(join(this.cniDir, 'locks')) : [];
    if (locks.length > 0) out.push(`lock files: ${locks.join(', ')}`);
    const ifaces = join(this.cniDir, 'policy', 'ifaces');
    if (existsSync(ifaces) && readdirSync(ifaces).length > 0)
      out.push(`policy records: ${readdirSync(ifaces).join(', ')}`);
    const pinLinks = join(this.bpfRoot, 'mnp', 'links');
    if (existsSync(pinLinks) && readdirSync(pinLinks).length > 0)
      out.push(`policy pins: ${readdirSync(pinLinks).join(', ')}`);
    return out;
  }

  /** Paths braid created that another user could reach: world/group-accessible ones. */
  exposedPaths(): string[] {
    const exposed: string[] = [];
    const walk = (p: string, depth: number): void => {
      let st;
      try {
        st = statSync(p);
      } catch {
        return;
      }
      if ((st.mode & 0o022) !== 0) exposed.push(`${p} (mode ${(st.mode & 0o777).toString(8)})`);
      if (st.isDirectory() && depth < 4) for (const n of readdirSync(p)) walk(join(p, n), depth + 1);
    };
    walk(this.cniDir, 0);
    walk(this.bpfRoot, 0);
    return exposed;
  }

  async cleanUp(): Promise<void> {
    await destroyAllNetns().catch(() => undefined);
    await runCommand(['umount', '-l', this.cniDir]).catch(() => undefined);
    rmSync(this.bpfRoot, { recursive: true, force: true });
    rmSync(this.root, { recursive: true, force: true });
  }
}
