import { CniCode, CniError } from '../base/errors.ts';
import { familyWidth, rangeToPrefixes } from './cidr.ts';
import { expandRule, type PortSpan, type SubRule } from './expand.ts';
import { flatten, type FlatEntry, type Member } from './flatten.ts';
import { policyKey, type ClusterView, type MultiNetworkPolicy, type PodView } from './model.ts';
import { matchesSelector } from './selector.ts';

/**
 * The compiler: policies + cluster view + one pod interface → what the BPF maps must hold for
 * it. Rules are grouped by their port set (rules with equal ports are one group: their peers are
 * simply united), each group gets one bit, and the verdict of a packet is
 *   (peerBits(peer address) | anyPeer) & (portBits(proto, port) | anyPort) != 0.
 */
export const MAX_GROUPS = 128;
const PORT_KEY_WIDTH = 24; // 8 bits protocol + 16 bits port

export interface RuleGroup {
  bit: number;
  ports: 'any' | PortSpan[];
  anyPeer: boolean;
  origins: string[];
}

export interface CompiledDirection {
  isolated: boolean;
  anyPeer: bigint;
  anyPort: bigint;
  peer4: FlatEntry[];
  peer6: FlatEntry[];
  /** Keys over (proto << 16 | port) in 24 bits. */
  ports: FlatEntry[];
  groups: RuleGroup[];
}

export interface CompiledInterface {
  /** `ns/name` of every policy that selects the interface. */
  policies: string[];
  ingress: CompiledDirection;
  egress: CompiledDirection;
}

export interface TargetInterface {
  pod: PodView;
  /** `ns/nad` of the interface's network. */
  network: string;
  /** For messages. */
  label?: string;
}

/** Policies that select this pod's interface on this network. */
export function selectingPolicies(
  policies: readonly MultiNetworkPolicy[],
  pod: PodView,
  network: string,
): MultiNetworkPolicy[] {
  return policies
    .filter(
      (p) =>
        p.namespace === pod.namespace && p.policyFor.includes(network) && matchesSelector(p.podSelector, pod.labels),
    )
    .sort((a, b) => policyKey(a).localeCompare(policyKey(b)));
}

/** Sorted, merged spans: the canonical form that decides which rules share a group. */
export function normalizeSpans(spans: readonly PortSpan[]): PortSpan[] {
  const sorted = [...spans].sort((a, b) => a.proto - b.proto || a.start - b.start || a.end - b.end);
  const out: PortSpan[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && last.proto === s.proto && s.start <= last.end + 1) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

function portSetKey(ports: SubRule['ports']): string {
  return ports === 'any' ? '' : ports.map((s) => `${s.proto}:${s.start}-${s.end}`).join(',');
}

function spanPrefixes(span: PortSpan): { addr: bigint; len: number }[] {
  return rangeToPrefixes(span.start, span.end, 16).map((p) => ({
    addr: BigInt((span.proto << 16) + p.value),
    len: 8 + p.len,
  }));
}

function compileDirection(subRules: SubRule[], isolated: boolean, label: string): CompiledDirection {
  const byKey = new Map<string, { ports: SubRule['ports']; rules: SubRule[] }>();
  for (const r of subRules) {
    const ports = r.ports === 'any' ? 'any' : normalizeSpans(r.ports);
    const key = portSetKey(ports);
    const g = byKey.get(key) ?? { ports, rules: [] };
    g.rules.push(r);
    byKey.set(key, g);
  }
  const keys = [...byKey.keys()].sort();
  if (keys.length > MAX_GROUPS) {
    throw new CniError(
      CniCode.InvalidConfig,
      `${label}: the selecting policies have ${keys.length} different port sets, more than the ${MAX_GROUPS} braid can enforce on one interface and direction; merge rules that use the same ports`,
    );
  }
  const out: CompiledDirection = { isolated, anyPeer: 0n, anyPort: 0n, peer4: [], peer6: [], ports: [], groups: [] };
  const members: Record<4 | 6, Member[]> = { 4: [], 6: [] };
  const portMembers: Member[] = [];
  keys.forEach((key, bit) => {
    const g = byKey.get(key)!;
    const mask = 1n << BigInt(bit);
    const anyPeer = g.rules.some((r) => r.peers === 'any');
    out.groups.push({ bit, ports: g.ports, anyPeer, origins: [...new Set(g.rules.map((r) => r.origin))] });
    if (anyPeer) out.anyPeer |= mask;
    else {
      for (const r of g.rules) {
        for (const p of r.peers as Exclude<SubRule['peers'], 'any'>) {
          members[p.include.family].push({ bit, include: p.include, exclude: p.exclude });
        }
      }
    }
    if (g.ports === 'any') out.anyPort |= mask;
    else
      for (const s of g.ports) for (const include of spanPrefixes(s)) portMembers.push({ bit, include, exclude: [] });
  });
  out.peer4 = flatten(members[4], familyWidth(4));
  out.peer6 = flatten(members[6], familyWidth(6));
  out.ports = flatten(portMembers, PORT_KEY_WIDTH);
  return out;
}

export function compileInterface(
  policies: readonly MultiNetworkPolicy[],
  view: ClusterView,
  target: TargetInterface,
): CompiledInterface {
  const selecting = selectingPolicies(policies, target.pod, target.network);
  const label = target.label ?? `${target.pod.namespace}/${target.pod.name} on ${target.network}`;
  const direction = (dir: 'ingress' | 'egress'): CompiledDirection => {
    const type = dir === 'ingress' ? 'Ingress' : 'Egress';
    const applying = selecting.filter((p) => p.policyTypes.includes(type));
    const subRules = applying.flatMap((policy) =>
      policy[dir].flatMap((rule, i) =>
        expandRule(rule, i, { view, policy, network: target.network, target: target.pod, direction: dir }),
      ),
    );
    return compileDirection(subRules, applying.length > 0, `${label} (${dir})`);
  };
  return { policies: selecting.map(policyKey), ingress: direction('ingress'), egress: direction('egress') };
}
