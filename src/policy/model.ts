/**
 * MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1) after parsing and validation, and the view of the
 * cluster (pods, namespaces) that the compiler reads. Defaults are already applied: every port
 * has a protocol, every policy its policyTypes, every `policy-for` network is `ns/name`.
 */

export const POLICY_API_GROUP = 'k8s.cni.cncf.io';
export const POLICY_KIND = 'MultiNetworkPolicy';
export const ANNOTATION_POLICY_FOR = 'k8s.v1.cni.cncf.io/policy-for';
/** Label every namespace carries in Kubernetes (since 1.21); the local store adds it too. */
export const LABEL_NAMESPACE_NAME = 'kubernetes.io/metadata.name';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/** A Kubernetes label selector; an empty one ({}) selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: SelectorRequirement[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export const PROTOCOL_NUMBERS: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface IpBlock {
  cidr: string;
  except: string[];
}

/** Exactly one of ipBlock, or one or both selectors. */
export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IpBlock;
}

/** No `port`: every port of the protocol. A string `port` is a named container port. */
export interface PolicyPort {
  protocol: Protocol;
  port?: number | string;
  endPort?: number;
}

/** `ports` / `peers` undefined or empty: any port / any peer. */
export interface PolicyRule {
  ports: PolicyPort[];
  peers: PolicyPeer[];
}

export type PolicyType = 'Ingress' | 'Egress';

export interface MultiNetworkPolicy {
  namespace: string;
  name: string;
  /** Networks (NADs) the policy applies to, as `namespace/name`. */
  policyFor: string[];
  podSelector: LabelSelector;
  policyTypes: PolicyType[];
  ingress: PolicyRule[];
  egress: PolicyRule[];
  /** Where it came from (file path), for messages. */
  source?: string;
}

export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

/** One interface of a pod on one network, as the network-status annotation lists it. */
export interface PodAttachment {
  /** `namespace/name` of the NAD. */
  network: string;
  ifname?: string;
  /** Addresses without prefix length. */
  ips: string[];
  /** The interface's MAC, when network-status has it: gives its IPv6 link-local address (link-local.ts). */
  mac?: string;
}

export interface PodView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  namedPorts: NamedPort[];
  attachments: PodAttachment[];
}

export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
}

export interface ClusterView {
  pods: PodView[];
  /** Namespaces with labels; a namespace not listed has only the kubernetes.io/metadata.name label. */
  namespaces: NamespaceView[];
}

export function policyKey(p: Pick<MultiNetworkPolicy, 'namespace' | 'name'>): string {
  return `${p.namespace}/${p.name}`;
}
