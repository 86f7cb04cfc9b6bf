import type { NetworkConfigList } from '../cni/netconf.ts';
import type { CompatWarning, Leniency } from '../base/leniency.ts';
import type { NetworkSelectionElement } from '../k8s/types.ts';

/** A network the pod will be attached to, with its delegate configuration resolved. */
export interface ResolvedNetwork {
  /** Display name: `ns/nad` for NADs, the CNI network name for files and inline delegates. */
  network: string;
  list: NetworkConfigList;
  /** Where the configuration came from, for `braid validate` (a file path, "NAD ns/name", "inline"). */
  origin: string;
  /** The annotation element that asked for it (for the cluster network: the default-network annotation's, if any); absent for defaultNetworks. */
  selection?: NetworkSelectionElement;
  /** SR-IOV / device-plugin resource named by the NAD. */
  resourceName?: string;
  /**
   * Set when a DEL without any record could not resolve this network (why, for the report). It
   * keeps its position so that the networks after it get the ifnames ADD gave them.
   */
  unresolved?: string;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

/** Everything the planner needs; produced by resolve.ts from the request, conf and sources. */
export interface PlanInputs {
  containerId: string;
  netns: string;
  /** The runtime's CNI_IFNAME: the cluster network's interface. */
  ifname: string;
  /** The runtime's CNI_ARGS. */
  args: [string, string][];
  /** The runtime's capability arguments for braid (`runtimeConfig` of braid's conf). */
  runtimeConfig: Record<string, unknown>;
  pod?: PodRef;
  cluster: ResolvedNetwork;
  defaultNetworks: ResolvedNetwork[];
  selected: ResolvedNetwork[];
  /** Device IDs handed to attachments with a resourceName, by attachment position. */
  deviceIds?: Map<number, string>;
  /** Multus' auxiliaryCNIChainName: a passthru chain run on the cluster interface after every other network. */
  auxiliary?: ResolvedNetwork;
  /** NPWG device-info directory: attachments with a device get runtimeConfig CNIDeviceInfoFile under it. */
  deviceInfoDir?: string;
  /** What Multus accepts and NPWG does not: warnings, or errors with `strict` (config/leniency.ts). */
  compat?: Leniency;
}

export interface PlannedAttachment {
  /** Position in the whole list: 0 is the cluster network. */
  index: number;
  network: string;
  origin: string;
  ifname: string;
  isDefault: boolean;
  /** The configuration as it will run: cni-args and deviceID already merged in. */
  list: NetworkConfigList;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  /** Gateways this attachment becomes the default route through (NPWG `default-route`). */
  defaultRoute?: string[];
  deviceId?: string;
  /** The auxiliary CNI chain (no network-status entry of its own). */
  auxiliary?: boolean;
  /** The device plugin's device-info file for deviceId, copied for the delegate before its ADD. */
  dpDeviceInfoFile?: string;
}

export interface Plan {
  containerId: string;
  netns: string;
  pod?: PodRef;
  attachments: PlannedAttachment[];
  /** Inputs accepted the way Multus accepts them (logged, and a Warning event on the pod). */
  warnings: CompatWarning[];
}
