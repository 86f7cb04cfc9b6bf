import { CniCode, CniError } from '../base/errors.ts';
import { PATHS } from '../base/defaults.ts';

/** braid-veth's own keys in the network config (everything else is passed on to IPAM untouched). */
export interface VethConfig {
  name: string;
  cniVersion: string;
  /** The `ipam` object, handed to the IPAM plugin named by its `type`. */
  ipam: Record<string, unknown> & { type: string };
  /** MTU of both veth ends; default: the MTU of the host's IPv4 default-route device, else 1500. */
  mtu?: number;
  /** bpffs directory for pins (versioned layout); default /sys/fs/bpf/braid/v1. */
  bpfRoot: string;
  /** Per-attachment records and the load lock; default /var/lib/cni/braid-veth. */
  stateDir: string;
  /** Start of the host-side veth name; the rest is a hash of (containerID, ifname). */
  hostVethPrefix: string;
  /** false: leave pod-to-pod traffic to the host stack instead of bpf_redirect_peer. */
  fastPath: boolean;
  /**
   * GSO/GRO limit of both veth ends, IPv4 and IPv6. Above 65536 this is BIG TCP: fewer, larger
   * packets between local pods (less CPU per byte); the kernel segments them for devices with
   * smaller limits. Off by default: on the 2-CPU test machine it lowered single-stream
   * throughput (see test/bench/veth-vs-bridge.ts).
   */
  gsoMaxSize: number;
  /** MAC for the pod interface from runtimeConfig.mac (the "mac" capability). */
  podMac?: string;
}

export const DEFAULT_BPF_ROOT = PATHS.bpfRoot;
export const DEFAULT_STATE_DIR = PATHS.vethStateDir;
export const DEFAULT_PREFIX = 'brv';
const LEGACY_GSO_MAX_SIZE = 65536;
export const DEFAULT_GSO_MAX_SIZE = LEGACY_GSO_MAX_SIZE;
/** Just under the kernel's GSO_MAX_SIZE (512 KiB). */
const KERNEL_GSO_MAX_SIZE = 524280;
const MAX_PREFIX = 7;

function fail(net: string, field: string, why: string): never {
  throw new CniError(CniCode.InvalidConfig, `braid-veth network "${net}": ${field} ${why}`);
}

function optionalString(raw: Record<string, unknown>, key: string, net: string): string | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') fail(net, `"${key}"`, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

export function parseVethConfig(raw: Record<string, unknown>, cniVersion: string): VethConfig {
  const name = String(raw.name ?? '');
  const ipam = raw.ipam as Record<string, unknown> | undefined;
  if (!ipam || typeof ipam !== 'object' || Array.isArray(ipam)) {
    fail(
      name,
      '"ipam"',
      'is required: braid-veth gets pod addresses from an IPAM plugin (e.g. {"type":"host-local",...})',
    );
  }
  if (typeof ipam.type !== 'string' || ipam.type === '') fail(name, '"ipam.type"', 'must name an IPAM plugin');
  const conf: VethConfig = {
    name,
    cniVersion,
    ipam: ipam as VethConfig['ipam'],
    bpfRoot: optionalString(raw, 'bpfRoot', name) ?? DEFAULT_BPF_ROOT,
    stateDir: optionalString(raw, 'stateDir', name) ?? DEFAULT_STATE_DIR,
    hostVethPrefix: optionalString(raw, 'hostVethPrefix', name) ?? DEFAULT_PREFIX,
    fastPath: raw.fastPath === undefined ? true : raw.fastPath === true,
    gsoMaxSize: DEFAULT_GSO_MAX_SIZE,
  };
  if (raw.gsoMaxSize !== undefined) {
    const g = raw.gsoMaxSize;
    if (typeof g !== 'number' || !Number.isInteger(g) || g < LEGACY_GSO_MAX_SIZE || g > KERNEL_GSO_MAX_SIZE) {
      fail(
        name,
        '"gsoMaxSize"',
        `must be an integer between ${LEGACY_GSO_MAX_SIZE} and ${KERNEL_GSO_MAX_SIZE}, got ${JSON.stringify(g)}`,
      );
    }
    conf.gsoMaxSize = g;
  }
  if (raw.fastPath !== undefined && typeof raw.fastPath !== 'boolean') {
    fail(name, '"fastPath"', `must be true or false, got ${JSON.stringify(raw.fastPath)}`);
  }
  if (conf.hostVethPrefix.length > MAX_PREFIX || !/^[a-z][a-z0-9]*$/.test(conf.hostVethPrefix)) {
    fail(name, '"hostVethPrefix"', `must be 1-${MAX_PREFIX} lower-case letters/digits starting with a letter`);
  }
  if (raw.mtu !== undefined) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 576 || raw.mtu > 65535) {
      fail(name, '"mtu"', `must be an integer between 576 and 65535, got ${JSON.stringify(raw.mtu)}`);
    }
    conf.mtu = raw.mtu;
  }
  const rc = raw.runtimeConfig as Record<string, unknown> | undefined;
  if (rc && typeof rc.mac === 'string' && rc.mac !== '') {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(rc.mac))
      fail(name, '"runtimeConfig.mac"', `is not a MAC address: ${rc.mac}`);
    conf.podMac = rc.mac.toLowerCase();
  }
  return conf;
}
