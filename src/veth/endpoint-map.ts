import { counters, structCodec, u32, type Codec } from '../bpf/codec.ts';
import { BpfMap, PerCpuMap } from '../bpf/maps.ts';
import { formatIp, formatMac, parseIp, parseMac, type IpFamily } from '../net/ip.ts';

/** Map names in bpf/veth.c; pinned by name under the plugin's pin directory. */
export const ENDPOINT_MAP = 'braid_ep';
export const STATS_MAP = 'braid_ep_stats';

/** The endpoint is delivered through the host stack, not bpf_redirect_peer (see bpf/braid_veth.h). */
export const EP_F_SLOWPATH = 0x1;

export interface EndpointKey {
  family: IpFamily;
  address: string;
}

export interface Endpoint {
  /** Host-side veth ifindex (host namespace). */
  ifindex: number;
  flags: number;
  podMac: string;
  hostMac: string;
  /** ownerId(containerId, ifname). */
  owner: bigint;
}

/** struct braid_ep_key: family u32 @0, addr[16] @4. */
export const endpointKeyCodec: Codec<EndpointKey> = structCodec(
  20,
  (k, b) => {
    const ip = parseIp(k.address);
    b.writeUInt32LE(ip.family, 0);
    ip.bytes.copy(b, 4);
  },
  (b) => {
    const family = b.readUInt32LE(0) === 6 ? 6 : 4;
    return { family, address: formatIp(b.subarray(4, family === 4 ? 8 : 20)) };
  },
);

/** struct braid_ep: ifindex u32 @0, flags u32 @4, pod_mac @8, host_mac @14, owner u64 @24. */
export const endpointCodec: Codec<Endpoint> = structCodec(
  32,
  (e, b) => {
    b.writeUInt32LE(e.ifindex, 0);
    b.writeUInt32LE(e.flags, 4);
    parseMac(e.podMac).copy(b, 8);
    parseMac(e.hostMac).copy(b, 14);
    b.writeBigUInt64LE(e.owner, 24);
  },
  (b) => ({
    ifindex: b.readUInt32LE(0),
    flags: b.readUInt32LE(4),
    podMac: formatMac(b.subarray(8, 14)),
    hostMac: formatMac(b.subarray(14, 20)),
    owner: b.readBigUInt64LE(24),
  }),
);

export const STATS_FIELDS = [
  'txPackets',
  'txBytes',
  'rxPackets',
  'rxBytes',
  'redirectPackets',
  'redirectBytes',
] as const;
export type EndpointStats = Record<(typeof STATS_FIELDS)[number], bigint>;
export const statsCodec = counters(STATS_FIELDS);

export function zeroStats(): EndpointStats {
  return Object.fromEntries(STATS_FIELDS.map((f) => [f, 0n])) as EndpointStats;
}

/** The two pinned maps of the veth datapath, opened by path. */
export class EndpointMaps {
  private constructor(
    readonly endpoints: BpfMap<EndpointKey, Endpoint>,
    readonly stats: PerCpuMap<number, EndpointStats>,
  ) {}

  static open(pinDir: string): EndpointMaps {
    const endpoints = BpfMap.pinned(`${pinDir}/${ENDPOINT_MAP}`, endpointKeyCodec, endpointCodec);
    try {
      return new EndpointMaps(endpoints, PerCpuMap.pinned(`${pinDir}/${STATS_MAP}`, u32, statsCodec));
    } catch (e) {
      endpoints.close();
      throw e;
    }
  }

  /** Counters of one host-side veth summed over CPUs; undefined when it has no entry. */
  statsOf(ifindex: number): EndpointStats | undefined {
    const perCpu = this.stats.lookupPerCpu(ifindex);
    if (!perCpu) return undefined;
    const sum = zeroStats();
    for (const s of perCpu) for (const f of STATS_FIELDS) sum[f] += s[f];
    return sum;
  }

  /** Entries recorded for one attachment. */
  endpointsOf(owner: bigint): [EndpointKey, Endpoint][] {
    return this.endpoints.entries().filter(([, e]) => e.owner === owner);
  }

  close(): void {
    this.endpoints.close();
    this.stats.close();
  }
}
