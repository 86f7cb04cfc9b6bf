/**
 * Runs bpf/mnp.o with BPF_PROG_TEST_RUN against maps filled by the production compiler and
 * reconciler. Every harness has its own pin root, state dir and network namespace; each test
 * interface is a veth in that namespace, so the program finds it by (netns cookie, ifindex)
 * exactly as in production.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsCookie } from '../../src/bpf/netns-cookie.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { skbContext, testRun } from '../../src/bpf/test-run.ts';
import { libc } from '../../src/net/libc.ts';
import { compileInterface, type CompiledInterface } from '../../src/policy/compile.ts';
import { ensureDatapath, type PolicyPrograms } from '../../src/policy/datapath.ts';
import { zeroStats, type CtEntry, type IfaceKey, type Stats } from '../../src/policy/layout.ts';
import { PolicyMaps } from '../../src/policy/maps.ts';
import type { ClusterView, PodView } from '../../src/policy/model.ts';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import { applyState, desiredState, type ApplyStats } from '../../src/policy/reconcile.ts';
import { addNetns, delNetns, makePinRoot, sh, type PinRoot } from './env.ts';

export const PASS = -1; // TC_ACT_UNSPEC: on to the next program
export const DROP = 2; // TC_ACT_SHOT

export interface TestIface {
  ifaceId: number;
  key: IfaceKey;
  pod: PodView;
  network: string;
  compiled?: CompiledInterface;
  /** Runs mnp_in ('in': to the pod) or mnp_out ('out': from the pod) on one frame. */
  run(dir: 'in' | 'out', frame: Buffer): number;
  /** Average run time in ns over `repeat` runs of the same frame (BPF_PROG_TEST_RUN's own timing). */
  time(dir: 'in' | 'out', frame: Buffer, repeat: number): number;
  stats(dir: 'in' | 'out'): Stats;
}

export interface Harness {
  maps: PolicyMaps;
  progs: PolicyPrograms;
  /** A managed interface of `pod` on `network` (a new veth in the harness namespace). */
  iface(pod: PodView, network: string, options?: number): TestIface;
  /** Compiles the policies for every interface and applies the result. */
  apply(yaml: string, view: ClusterView): ApplyStats[];
  /** Runs a program on a device that no policy manages. */
  runUnmanaged(dir: 'in' | 'out', frame: Buffer): number;
  ctEntries(ifaceId: number): CtEntry[];
  /** Moves every CT deadline into the past. */
  expireAll(): void;
  destroy(): void;
}

/** objectPath: another build of mnp.o (benchmarks compare builds); default the current one. */
export function createHarness(objectPath?: string): Harness {
  const pins: PinRoot = makePinRoot();
  const state = mkdtempSync(join(tmpdir(), 'braid-t-mnp-'));
  const ns = addNetns('braid-t-mnp');
  const nsPath = `/run/netns/${ns}`;
  const cleanup = (progs?: PolicyPrograms, maps?: PolicyMaps) => {
    progs?.close();
    maps?.close();
    delNetns(ns);
    pins.cleanup();
    rmSync(state, { recursive: true, force: true });
  };
  let progs: PolicyPrograms | undefined;
  let maps: PolicyMaps | undefined;
  try {
    progs = ensureDatapath(pins.path, state, objectPath);
    maps = PolicyMaps.open(pins.path);
  } catch (e) {
    cleanup(progs, maps);
    throw e;
  }
  const m = maps;
  const p = progs;
  const cookie = netnsCookie(nsPath);
  const ifaces: (TestIface & { options: number })[] = [];
  const device = (name: string) => {
    sh('ip', ['-n', ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    return withNetns(nsPath, () => libc().if_nametoindex(name));
  };
  const runOn = (ifindex: number, dir: 'in' | 'out', frame: Buffer, repeat = 1) =>
    withNetns(nsPath, () =>
      testRun(dir === 'in' ? p.in : p.out, { data: frame, ctx: skbContext({ ifindex }), repeat }),
    );
  let unmanaged: number | undefined;
  return {
    maps: m,
    progs: p,
    iface(pod, network, options = 0) {
      const ifaceId = 100 + ifaces.length;
      const key = { cookie, ifindex: device(`pod${ifaces.length}`) };
      for (const dir of [0, 1]) m.stats.update({ ifaceId, dir }, zeroStats());
      const iface = {
        ifaceId,
        key,
        pod,
        network,
        options,
        run: (dir: 'in' | 'out', frame: Buffer) => runOn(key.ifindex, dir, frame).retval,
        time: (dir: 'in' | 'out', frame: Buffer, repeat: number) => runOn(key.ifindex, dir, frame, repeat).durationNs,
        stats(dir: 'in' | 'out') {
          const sum = zeroStats();
          for (const s of m.stats.lookupPerCpu({ ifaceId, dir: dir === 'in' ? 0 : 1 }) ?? []) {
            for (const k of Object.keys(sum) as (keyof Stats)[]) sum[k] += s[k];
          }
          return sum;
        },
      };
      ifaces.push(iface);
      return iface;
    },
    apply(yaml, view) {
      const policies = parsePolicyDocuments(yaml, 'test.yaml').policies;
      return ifaces.map((i) => {
        i.compiled = compileInterface(policies, view, { pod: i.pod, network: i.network });
        return applyState(m, i.key, desiredState(i.ifaceId, i.compiled, i.options));
      });
    },
    runUnmanaged(dir, frame) {
      unmanaged ??= device('free0');
      return runOn(unmanaged, dir, frame).retval;
    },
    ctEntries: (ifaceId) =>
      m.ct
        .entries()
        .filter(([k]) => k.ifaceId === ifaceId)
        .map(([, v]) => v),
    expireAll() {
      for (const [k, v] of m.ct.entries()) m.ct.update(k, { ...v, expires: 1n });
    },
    destroy: () => cleanup(p, m),
  };
}
