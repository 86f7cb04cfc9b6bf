import { parseCidr, hostPrefix, type Prefix } from './cidr.ts';
import {
  PROTOCOL_NUMBERS,
  type ClusterView,
  type MultiNetworkPolicy,
  type PodView,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
} from './model.ts';
import { eui64LinkLocal } from './link-local.ts';
import { allNamespaces, matchesSelector, namespaceLabels } from './selector.ts';

/**
 * Expands one policy rule, for one target interface, into "sub-rules": a set of peer prefixes
 * (or any peer) and a set of port spans (or any port). A rule is their union. Named ports are
 * resolved here: on ingress against the target pod, on egress against each destination pod,
 * which splits the rule per resolved port number.
 */

/** [start, end] of one protocol's ports; 0-65535 is "every port of the protocol". */
export interface PortSpan {
  proto: number;
  start: number;
  end: number;
}

/** A peer: a cidr minus excepts, or one pod address (no excepts). */
export interface PeerPrefix {
  include: Prefix;
  exclude: Prefix[];
}

export interface SubRule {
  peers: 'any' | PeerPrefix[];
  ports: 'any' | PortSpan[];
  /** e.g. "ns/policy ingress[0]". */
  origin: string;
}

export interface ExpandContext {
  view: ClusterView;
  policy: MultiNetworkPolicy;
  /** The target interface's network (`ns/nad`): peer addresses come from this network only. */
  network: string;
  target: PodView;
  direction: 'ingress' | 'egress';
}

/** A pod's addresses on a network: network-status's, and the link-local one its MAC gives. */
export function podAddresses(pod: PodView, network: string): string[] {
  return pod.attachments
    .filter((a) => a.network === network)
    .flatMap((a) => {
      const linkLocal = a.mac ? eui64LinkLocal(a.mac) : undefined;
      return linkLocal ? [...a.ips, linkLocal] : a.ips;
    });
}

/** Pods a selector peer selects; a bare podSelector means the policy's namespace only. */
export function selectPeerPods(peer: PolicyPeer, view: ClusterView, policyNamespace: string): PodView[] {
  let namespaces: Set<string>;
  if (peer.namespaceSelector) {
    const sel = peer.namespaceSelector;
    namespaces = new Set(allNamespaces(view).filter((ns) => matchesSelector(sel, namespaceLabels(view, ns))));
  } else {
    namespaces = new Set([policyNamespace]);
  }
  return view.pods.filter(
    (pod) => namespaces.has(pod.namespace) && (!peer.podSelector || matchesSelector(peer.podSelector, pod.labels)),
  );
}

function addressPrefixes(ips: string[]): PeerPrefix[] {
  const out: PeerPrefix[] = [];
  for (const ip of ips) {
    try {
      out.push({ include: hostPrefix(ip), exclude: [] });
    } catch {
      // An unparsable address in someone's network-status cannot match any packet.
    }
  }
  return out;
}

function resolveNamedPort(pod: PodView, name: string, protocol: PolicyPort['protocol']): number[] {
  return [...new Set(pod.namedPorts.filter((p) => p.name === name && p.protocol === protocol).map((p) => p.port))];
}

function numericSpan(p: PolicyPort): PortSpan {
  const proto = PROTOCOL_NUMBERS[p.protocol];
  if (p.port === undefined) return { proto, start: 0, end: 65535 };
  const start = p.port as number;
  return { proto, start, end: p.endPort ?? start };
}

export function expandRule(rule: PolicyRule, index: number, ctx: ExpandContext): SubRule[] {
  const { view, policy, network, target, direction } = ctx;
  const origin = `${policy.namespace}/${policy.name} ${direction}[${index}]`;
  const anyPeer = rule.peers.length === 0;
  const blocks: PeerPrefix[] = [];
  const pods: PodView[] = [];
  for (const peer of rule.peers) {
    if (peer.ipBlock) {
      blocks.push({ include: parseCidr(peer.ipBlock.cidr), exclude: peer.ipBlock.except.map(parseCidr) });
    } else {
      pods.push(...selectPeerPods(peer, view, policy.namespace));
    }
  }
  const uniquePods = [...new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])).values()];
  const peers: SubRule['peers'] = anyPeer
    ? 'any'
    : [...blocks, ...addressPrefixes(uniquePods.flatMap((p) => podAddresses(p, network)))];

  if (rule.ports.length === 0) return [{ peers, ports: 'any', origin }];

  const spans: PortSpan[] = [];
  const named: PolicyPort[] = [];
  for (const p of rule.ports) {
    if (typeof p.port === 'string') named.push(p);
    else spans.push(numericSpan(p));
  }
  const out: SubRule[] = [];
  if (direction === 'ingress') {
    // The named port is the target pod's own port.
    for (const p of named) {
      for (const port of resolveNamedPort(target, p.port as string, p.protocol)) {
        spans.push({ proto: PROTOCOL_NUMBERS[p.protocol], start: port, end: port });
      }
    }
    if (spans.length > 0) out.push({ peers, ports: spans, origin });
    return out;
  }
  if (spans.length > 0) out.push({ peers, ports: spans, origin });
  // Egress: the destination pod's port; ipBlock peers have no pod, so a name never matches them.
  const candidates = anyPeer ? view.pods : uniquePods;
  for (const p of named) {
    const byPort = new Map<number, PodView[]>();
    for (const pod of candidates) {
      for (const port of resolveNamedPort(pod, p.port as string, p.protocol)) {
        byPort.set(port, [...(byPort.get(port) ?? []), pod]);
      }
    }
    for (const [port, group] of byPort) {
      const prefixes = addressPrefixes(group.flatMap((pod) => podAddresses(pod, network)));
      if (prefixes.length === 0) continue;
      out.push({ peers: prefixes, ports: [{ proto: PROTOCOL_NUMBERS[p.protocol], start: port, end: port }], origin });
    }
  }
  return out;
}
