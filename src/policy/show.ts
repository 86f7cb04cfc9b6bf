import { compileInterface, type CompiledInterface } from './compile.ts';
import { zeroStats, type Stats } from './layout.ts';
import type { PolicyMaps } from './maps.ts';
import { desiredState } from './reconcile.ts';
import { listRecords, withPolicyLock, type IfaceRecord } from './registry.ts';
import {
  ifaceKeyOf,
  loadInputs,
  openMapsIfLoaded,
  stateDirOf,
  targetPod,
  type PolicyRuntimeOptions,
} from './runtime.ts';

/** What `braid policy show` prints for one pod interface. */
export interface InterfacePolicyStatus {
  ifaceId: number;
  pod: string;
  ifname: string;
  network: string;
  /** "host veth vethab12" or "pod device net1". */
  hook: string;
  policies: string[];
  isolated: { ingress: boolean; egress: boolean };
  /** Whether the kernel holds the compiled state of the current policies. */
  inSync: boolean;
  counters: { ingress: Stats; egress: Stats };
  error?: string;
}

function sumPerCpu(maps: PolicyMaps, ifaceId: number, dir: number): Stats {
  const total = zeroStats();
  for (const s of maps.stats.lookupPerCpu({ ifaceId, dir }) ?? []) {
    for (const k of Object.keys(total) as (keyof Stats)[]) total[k] += s[k];
  }
  return total;
}

function statusOf(
  rec: IfaceRecord,
  compiled: CompiledInterface | undefined,
  maps: PolicyMaps | undefined,
  error?: string,
): InterfacePolicyStatus {
  const cfg = maps?.iface.lookup(ifaceKeyOf(rec));
  const out: InterfacePolicyStatus = {
    ifaceId: rec.ifaceId,
    pod: `${rec.pod.namespace}/${rec.pod.name}`,
    ifname: rec.ifname,
    network: rec.network,
    hook: rec.hook.place === 'host-veth' ? `host veth ${rec.hook.ifname}` : `pod device ${rec.hook.ifname}`,
    policies: compiled?.policies ?? [],
    isolated: { ingress: compiled?.ingress.isolated ?? false, egress: compiled?.egress.isolated ?? false },
    inSync: false,
    counters: {
      ingress: maps ? sumPerCpu(maps, rec.ifaceId, 0) : zeroStats(),
      egress: maps ? sumPerCpu(maps, rec.ifaceId, 1) : zeroStats(),
    },
  };
  if (cfg && compiled) {
    out.inSync = cfg.ifaceId === rec.ifaceId && cfg.hash === desiredState(rec.ifaceId, compiled, rec.options).cfg.hash;
  }
  if (error) out.error = error;
  return out;
}

export function policyStatus(opts: PolicyRuntimeOptions): InterfacePolicyStatus[] {
  const stateDir = stateDirOf(opts);
  return withPolicyLock(stateDir, () => {
    const records = listRecords(stateDir);
    const inputs = loadInputs(opts, records);
    const maps = openMapsIfLoaded(opts.bpfRoot);
    try {
      return records.map((rec) => {
        try {
          const compiled = compileInterface(inputs.policies, inputs.view, {
            pod: targetPod(inputs.view, rec),
            network: rec.network,
          });
          return statusOf(rec, compiled, maps);
        } catch (e) {
          return statusOf(rec, undefined, maps, (e as Error).message);
        }
      });
    } finally {
      maps?.close();
    }
  });
}

const REASONS: [keyof Stats, string][] = [
  ['allowPolicy', 'policy'],
  ['allowUnisolated', 'not isolated'],
  ['allowEstablished', 'established'],
  ['allowReply', 'reply'],
  ['allowRelated', 'related ICMP'],
  ['allowInfra', 'ARP/ND'],
  ['allowDhcp', 'DHCP'],
  ['denyPolicy', 'denied by policy'],
  ['denyRevoked', 'revoked'],
  ['denyFragmentOrder', 'fragment before its first'],
  ['denyMalformed', 'unparsable'],
];

function direction(name: string, isolated: boolean, s: Stats): string {
  const reasons = REASONS.filter(([k]) => s[k] > 0n).map(([k, label]) => `${label} ${s[k]}`);
  return (
    `    ${name.padEnd(7)} ${isolated ? 'isolated' : 'open    '}  allowed ${s.allowedPackets} pkts / ${s.allowedBytes} B, ` +
    `denied ${s.deniedPackets} pkts / ${s.deniedBytes} B${reasons.length ? `  (${reasons.join(', ')})` : ''}`
  );
}

export function formatPolicyStatus(rows: InterfacePolicyStatus[]): string {
  if (rows.length === 0) return 'no pod interfaces under policy enforcement on this node\n';
  return rows
    .map((r) =>
      [
        `${r.pod} ${r.ifname} (${r.network}) via ${r.hook}${r.inSync ? '' : '  [maps not in sync: run braid policy apply]'}`,
        `    policies ${r.policies.length ? r.policies.join(', ') : '(none: all traffic allowed)'}`,
        ...(r.error ? [`    error    ${r.error}`] : []),
        direction('ingress', r.isolated.ingress, r.counters.ingress),
        direction('egress', r.isolated.egress, r.counters.egress),
      ].join('\n'),
    )
    .join('\n')
    .concat('\n');
}
