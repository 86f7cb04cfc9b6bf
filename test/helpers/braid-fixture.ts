import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REAL_PLUGINS, POD, type BraidBed, type BraidRunOptions } from './braid-bed-api.ts';
import { bedFiles, bedLeftovers, bedNetworks, hostLocalIpam, newBedState, type BedState } from './braid-bed-parts.ts';
import { braidBinary } from './braid-binary.ts';
import { createNetns, destroyAllNetns, type Netns } from './netns.ts';
import { runPlugin, type PluginRun } from './run-plugin.ts';
import { cleanupTemps } from './tmp.ts';

/**
 * A test bed for black-box tests of the braid binary: temp directories for braid's confDir,
 * cniDir (cache), nadDir, podDir, the host-local dataDir and spy plugins; a "node" namespace
 * where braid runs (nsenter) so that bridges and host veths stay out of the machine's own
 * namespace; a "pod" namespace as CNI_NETNS. The cluster network is a bridge conflist in confDir.
 * Clean up with destroyAllNetns() and cleanupTemps() in afterEach. Its interface and constants are
 * in braid-bed-api.ts, its parts in braid-bed-parts.ts.
 */

export * from './braid-bed-api.ts';
export { spyConflist } from './braid-bed-parts.ts';
export { braidBinary, braidUnavailable, isRoot, removeBraidBinary, repoRoot } from './braid-binary.ts';

/** One braid call in the node namespace, with the bed's container, pod namespace, pod and conf unless `o` says otherwise. */
function runBraid(s: BedState, bed: BraidBed, command: string, o: BraidRunOptions = {}): Promise<PluginRun> {
  const perContainer = !['STATUS', 'GC', 'VERSION'].includes(command);
  const pick = <T>(v: T | null | undefined, dflt: T | undefined): T | undefined =>
    v === null ? undefined : (v ?? dflt);
  const containerIdValue = pick(o.containerId, perContainer ? s.containerId : undefined);
  const netns = pick(o.netns, perContainer ? bed.pod : undefined);
  const ifname = pick(o.ifname, perContainer ? 'eth0' : undefined);
  const podRef = o.pod === null ? undefined : (o.pod ?? POD);
  const args =
    o.args ??
    (podRef
      ? `IgnoreUnknown=1;K8S_POD_NAMESPACE=${podRef.namespace};K8S_POD_NAME=${podRef.name};K8S_POD_INFRA_CONTAINER_ID=${containerIdValue ?? ''}`
      : undefined);
  return runPlugin(o.binary ?? braidBinary(), {
    command,
    ...(containerIdValue !== undefined ? { containerId: containerIdValue } : {}),
    ...(netns !== undefined ? { netns } : {}),
    ...(ifname !== undefined ? { ifname } : {}),
    ...(args !== undefined && perContainer ? { args } : {}),
    path: o.path ?? [s.spyDir, REAL_PLUGINS],
    stdin: o.conf ?? bed.conf(),
    hostNetns: s.node,
    timeoutMs: o.timeoutMs ?? 30_000,
    ...(o.extraEnv ? { extraEnv: o.extraEnv } : {}),
  });
}

export async function makeBraidBed(): Promise<BraidBed> {
  const s = await newBedState();
  const { pods: _pods, baseline: _baseline, ...facts } = s;
  const { root, confDir, cniDir, nadDir, podDir, ipamDir, clusterFile } = s;
  const bed: BraidBed = {
    ...facts,
    get pod() {
      return s.pods[0]!;
    },
    conf: (extra = {}) => ({
      cniVersion: '1.0.0',
      name: 'braid',
      type: 'braid',
      clusterNetwork: clusterFile,
      confDir,
      cniDir,
      // Never the machine's own Multus cache (braid reads it for containers it has no record of).
      multusCniDir: join(root, 'multus'),
      deviceInfoDir: join(root, 'devinfo'),
      binDir: REAL_PLUGINS,
      nadDir,
      podDir,
      // Policy programs have suites of their own (braid-policy, policy-*); here they would only
      // pin into the machine's bpffs.
      policy: { enabled: false },
      ...extra,
    }),
    run: (command, o) => runBraid(s, bed, command, o),
    newPod: async () => {
      const ns = await createNetns('braid-t-pod');
      s.pods.push(ns);
      return ns;
    },
    hostLocal: (subnet, extra) => hostLocalIpam(ipamDir, subnet, extra),
    ...bedFiles(s),
    ...bedNetworks(s, () => bed),
    ...bedLeftovers(s, () => bed),
  };
  return bed;
}

/** Addresses of one interface in a namespace, as `addr/prefix`, global scope only. */
export async function addressesOf(ns: Netns, ifname: string): Promise<string[]> {
  const link = (await ns.addrs()).find((l) => l.ifname === ifname);
  return (link?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

/** Whether a process still runs (a zombie nobody reaped yet counts as gone). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The error object of a failed run, with a readable failure message when it did not fail as expected. */
export function expectCniError(r: PluginRun, code: number): Record<string, any> {
  expect(r.code, `expected failure with code ${code}; stdout: ${r.stdout} stderr: ${r.stderr}`).not.toBe(0);
  expect(r.json, `stdout is not a JSON error: ${r.stdout}`).toBeDefined();
  expect(r.json!.code, `${r.stdout}\n${r.stderr}`).toBe(code);
  expect(typeof r.json!.msg).toBe('string');
  return r.json!;
}

/** A successful run's parsed result (ADD) or an empty stdout (other verbs). */
export function expectOk(r: PluginRun): Record<string, any> | undefined {
  expect(r.code, `expected success; stdout: ${r.stdout} stderr: ${r.stderr}`).toBe(0);
  return r.json;
}

/**
 * The hooks every braid suite needs: the binary built once per file, a fresh bed before each test
 * (handed to `onBed`, which may add the test's common set-up), and namespaces and temp dirs removed
 * after each test, also when it failed. Call it inside the suite's describe.
 */
export function useBraidBed(onBed: (bed: BraidBed) => void | Promise<void>): void {
  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    await onBed(await makeBraidBed());
  });
  afterEach(async () => {
    await destroyAllNetns();
    cleanupTemps();
  });
}
