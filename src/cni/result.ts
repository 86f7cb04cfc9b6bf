/**
 * The CNI result in braid's canonical in-memory form: the 1.1.0 shape. Results of every other
 * version are converted into this on the way in and out of it on the way out (see convert.ts).
 */
export interface CniInterface {
  name: string;
  mac?: string;
  /** Network namespace path for sandbox interfaces; absent or empty for host interfaces. */
  sandbox?: string;
  mtu?: number;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  /** CIDR notation: address with prefix length, e.g. 10.1.0.5/24. */
  address: string;
  gateway?: string;
  /** Index into interfaces[]. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** `{cniVersion, supportedVersions}` as printed by the VERSION verb. */
export interface CniVersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}
