import { selectingPolicies } from './compile.ts';
import { governedBy } from './governed.ts';
import { policiesNaming } from './peer-of.ts';
import type { PodInterface } from './pod-entries.ts';
import type { PolicySource } from './source.ts';

/**
 * What a pod's ADD (or DEL) has to do to the node, decided from the policies and the governed
 * index alone, without libbpf: which of its interfaces a policy selects (they get programs before
 * ADD answers), and whether an enforced interface has a policy naming the pod as a peer.
 */
export interface Admission {
  selected: PodInterface[];
  changesPeers: boolean;
}

export function admission(stateDir: string, source: PolicySource, ifaces: readonly PodInterface[]): Admission {
  const first = ifaces[0];
  const policies = first ? source.policies() : [];
  if (!first || policies.length === 0) return { selected: [], changesPeers: false };
  const pod = source.pod(first.pod.namespace, first.pod.name) ?? {
    ...first.pod,
    labels: {},
    namedPorts: [],
    attachments: [],
  };
  const selected = ifaces.filter((i) => selectingPolicies(policies, pod, i.network).length > 0);
  const peer = {
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels,
    networks: ifaces.map((i) => i.network),
    hasNamedPorts: pod.namedPorts.length > 0,
  };
  const naming = policiesNaming(policies, peer, source.namespaces());
  return { selected, changesPeers: naming.length > 0 && governedBy(stateDir, naming).size > 0 };
}
