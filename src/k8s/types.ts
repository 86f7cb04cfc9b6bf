/** Kubernetes and NPWG shapes braid reads and writes. Field names follow the wire format. */

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP' | string;
  hostIP?: string;
}

export interface BandwidthEntry {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** One element of the k8s.v1.cni.cncf.io/networks annotation (NPWG 4.1.2). */
export interface NetworkSelectionElement {
  name: string;
  namespace?: string;
  ips?: string[];
  mac?: string;
  interface?: string;
  'default-route'?: string[];
  portMappings?: PortMapping[];
  bandwidth?: BandwidthEntry;
  'cni-args'?: Record<string, unknown>;
  'infiniband-guid'?: string;
  deviceID?: string;
  /** NPWG 1.3: name of an IPAMClaim holding this attachment's addresses; never together with `ips`. */
  'ipam-claim-reference'?: string;
}

export interface DeviceInfo {
  type: string;
  version?: string;
  pci?: Record<string, unknown>;
  vdpa?: Record<string, unknown>;
  'vhost-user'?: Record<string, unknown>;
  memif?: Record<string, unknown>;
}

/** One entry of the k8s.v1.cni.cncf.io/network-status annotation (NPWG section 5). */
export interface NetworkStatus {
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  mtu?: number;
  default: boolean;
  dns?: { nameservers?: string[]; domain?: string; search?: string[] };
  gateway?: string[];
  'default-route'?: string[];
  'device-info'?: DeviceInfo;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface NetworkAttachmentDefinition {
  apiVersion: string;
  kind: 'NetworkAttachmentDefinition';
  metadata: ObjectMeta;
  spec?: { config?: string };
}

/** What braid needs to know of a pod. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export const ANNOTATION_NETWORKS = 'k8s.v1.cni.cncf.io/networks';
export const ANNOTATION_NETWORK_STATUS = 'k8s.v1.cni.cncf.io/network-status';
export const ANNOTATION_DEFAULT_NETWORK = 'v1.multus-cni.io/default-network';
export const ANNOTATION_RESOURCE_NAME = 'k8s.v1.cni.cncf.io/resourceName';
export const CAPABILITY_POD_ANNOTATIONS = 'io.kubernetes.cri.pod-annotations';
