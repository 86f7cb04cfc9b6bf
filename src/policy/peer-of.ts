import type { MultiNetworkPolicy, NamespaceView, PolicyRule } from './model.ts';
import { policyKey } from './model.ts';
import { matchesSelector, namespaceLabels } from './selector.ts';

/** A pod as a possible peer: who it is, its labels, the networks it has addresses on. */
export interface PeerPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  networks: readonly string[];
  hasNamedPorts: boolean;
}

function ruleNames(
  rule: PolicyRule,
  pod: PeerPod,
  policy: MultiNetworkPolicy,
  namespaces: NamespaceView[],
  egress: boolean,
): boolean {
  // An egress rule with a named port resolves it against every candidate pod, peers or not.
  if (egress && pod.hasNamedPorts && rule.ports.some((p) => typeof p.port === 'string')) return true;
  for (const peer of rule.peers) {
    if (peer.ipBlock) continue;
    const nsOk = peer.namespaceSelector
      ? matchesSelector(peer.namespaceSelector, namespaceLabels({ pods: [], namespaces }, pod.namespace))
      : pod.namespace === policy.namespace;
    if (nsOk && (!peer.podSelector || matchesSelector(peer.podSelector, pod.labels))) return true;
  }
  return false;
}

/**
 * The policies whose compiled entries can contain this pod's addresses: those on one of its
 * networks with a selector peer that matches it. Interfaces these policies govern are the only
 * ones a pod's arrival or departure changes; ipBlock peers and "any peer" rules never list pods.
 */
export function policiesNaming(
  policies: readonly MultiNetworkPolicy[],
  pod: PeerPod,
  namespaces: NamespaceView[],
): string[] {
  const out: string[] = [];
  for (const policy of policies) {
    if (!policy.policyFor.some((n) => pod.networks.includes(n))) continue;
    const named =
      policy.ingress.some((r) => ruleNames(r, pod, policy, namespaces, false)) ||
      policy.egress.some((r) => ruleNames(r, pod, policy, namespaces, true));
    if (named) out.push(policyKey(policy));
  }
  return out;
}
