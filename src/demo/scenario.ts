/**
 * What the demo sets up around braid. The names here must match examples/demo: the macvlan NAD's
 * "master", the host-device NAD's "device", the cluster conflist's "bridge" and the pod store.
 */

export const NODE = {
  /** The cluster network's bridge (examples/demo/net.d/10-cluster.conflist). */
  bridge: 'braid0',
  /** The macvlan master (examples/demo/nads/macvlan-lan.yaml), a veth end standing in for a NIC. */
  lanNic: 'eth1',
  lanPeer: 'lan-peer',
  /** The device the storage NAD moves into a pod (examples/demo/nads/storage.yaml). */
  storageNic: 'eth2',
  /** The other end of eth2 stays on the node and plays the storage array. */
  storagePeer: 'stor-peer',
  storagePeerAddress: '10.10.60.1/24',
} as const;

export interface DemoPod {
  namespace: string;
  name: string;
  /** How its networks annotation is written, for the output. */
  form: string;
  /** Interfaces it must have after ADD. */
  interfaces: string[];
}

/** The pods of examples/demo/pods/<namespace>/<name>.yaml, in ADD order (DEL runs in reverse). */
export const PODS: DemoPod[] = [
  { namespace: 'default', name: 'alpha', form: 'comma form', interfaces: ['eth0', 'net1'] },
  { namespace: 'default', name: 'beta', form: 'JSON form', interfaces: ['eth0', 'lan0', 'storage0'] },
];

/** The pod whose plan `braid validate` prints. */
export const VALIDATED_POD = 'beta';

/** One end of a traffic check: an interface of a pod (by name) or of the node. */
export interface Endpoint {
  pod: string | 'node';
  ifname: string;
}

export interface TrafficCheck {
  /** The network the packets cross, as the output names it. */
  network: string;
  from: Endpoint;
  to: Endpoint;
  /** The server's port; any free one when absent. */
  port?: number;
}

export const TRAFFIC: TrafficCheck[] = [
  // beta's ingress on macvlan-lan is isolated to this port by examples/demo/policies (POLICY).
  { network: 'macvlan-lan', from: { pod: 'alpha', ifname: 'net1' }, to: { pod: 'beta', ifname: 'lan0' }, port: 7000 },
  { network: 'cluster', from: { pod: 'alpha', ifname: 'eth0' }, to: { pod: 'beta', ifname: 'eth0' } },
  { network: 'cluster', from: { pod: 'beta', ifname: 'eth0' }, to: { pod: 'alpha', ifname: 'eth0' } },
  { network: 'storage', from: { pod: 'beta', ifname: 'storage0' }, to: { pod: 'node', ifname: NODE.storagePeer } },
];

/** examples/demo/policies: what it lets in, for the policy step's checks and output. */
export const POLICY = {
  name: 'default/beta-lan-7000',
  allowedPort: 7000,
  otherPort: 7001,
} as const;

export interface PolicyCheck extends TrafficCheck {
  port: number;
  /** Whether the policy lets this flow through. */
  allowed: boolean;
}

export const POLICY_CHECKS: PolicyCheck[] = [
  {
    network: 'macvlan-lan',
    from: { pod: 'alpha', ifname: 'net1' },
    to: { pod: 'beta', ifname: 'lan0' },
    port: POLICY.allowedPort,
    allowed: true,
  },
  {
    network: 'macvlan-lan',
    from: { pod: 'alpha', ifname: 'net1' },
    to: { pod: 'beta', ifname: 'lan0' },
    port: POLICY.otherPort,
    allowed: false,
  },
  // The policy is for macvlan-lan only: the same port over the cluster network is not isolated.
  {
    network: 'cluster',
    from: { pod: 'alpha', ifname: 'eth0' },
    to: { pod: 'beta', ifname: 'eth0' },
    port: POLICY.otherPort,
    allowed: true,
  },
];
