import { closeSync, openSync } from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import type { CniResult, CniRoute } from '../cni/result.ts';
import { parseMac, parsePrefix, type IpFamily, type IpPrefix } from '../net/ip.ts';
import { createVethPair, deleteLink, findLink } from '../net/links.ts';
import { NetlinkSocket } from '../net/netlink-socket.ts';
import { isNetnsPath, withNetns } from '../net/netns.ts';
import { type VethConfig, parseVethConfig } from './config.ts';
import { attachHostVeth, ensurePrograms, type Programs } from './datapath.ts';
import { registerEndpoint } from './endpoints.ts';
import { DEFAULT_DST, GATEWAY } from './gateway.ts';
import { configureHost, uplinkMtu } from './host-side.ts';
import { ipamAdd, runIpam, type IpamCall } from './ipam.ts';
import { hostVethName, ownerId, randomMac } from './names.ts';
import { configurePod, hostPrefix, prefixText } from './pod-side.ts';
import { removeRecord, writeRecord } from './state.ts';
import { teardown } from './teardown.ts';

const FALLBACK_MTU = 1500;

export function ipamCallOf(req: CniRequest): Omit<IpamCall, 'command'> {
  return {
    path: req.path,
    containerId: req.containerId,
    netns: req.netns,
    ifname: req.ifname,
    argsRaw: req.argsRaw,
    stdin: req.stdin,
    config: req.config,
    cniVersion: req.cniVersion,
  };
}

function podHasInterface(netns: string, ifname: string): boolean {
  return withNetns(netns, () => {
    const sock = NetlinkSocket.open(`netns ${netns}`);
    try {
      return findLink(sock, ifname) !== undefined;
    } finally {
      sock.close();
    }
  });
}

/** IPAM routes keep their destination; their next hop is always braid-veth's gateway. */
function podRoutes(ipam: CniResult, families: IpFamily[]): IpPrefix[] {
  const routes = (ipam.routes ?? []).map((r) => parsePrefix(r.dst)).filter((p) => families.includes(p.family));
  for (const f of families) if (!routes.some((r) => r.family === f)) routes.push(parsePrefix(DEFAULT_DST[f]));
  return routes;
}

/** Everything after IPAM, synchronous: veth pair, pod side, host side, maps, hooks, record. */
function plumb(req: CniRequest, conf: VethConfig, programs: Programs, ipam: CniResult): CniResult {
  const hostVeth = hostVethName(conf.hostVethPrefix, req.containerId, req.ifname);
  const addresses = (ipam.ips ?? []).map((ip) => hostPrefix(ip.address));
  const families = [...new Set(addresses.map((a) => a.family))];
  const routes = podRoutes(ipam, families);
  const hostMac = randomMac();
  const podMac = conf.podMac ?? randomMac();
  const sock = NetlinkSocket.open();
  try {
    // Same name = same (containerID, ifname): a leftover of an interrupted ADD, safe to replace.
    deleteLink(sock, hostVeth);
    const mtu = conf.mtu ?? uplinkMtu(sock) ?? FALLBACK_MTU;
    const nsFd = openSync(req.netns, 'r');
    try {
      createVethPair(
        sock,
        { name: hostVeth, mac: parseMac(hostMac) },
        { name: req.ifname, mac: parseMac(podMac), netnsFd: nsFd },
        { mtu, gsoMaxSize: conf.gsoMaxSize },
      );
    } finally {
      closeSync(nsFd);
    }
    const hostLink = findLink(sock, hostVeth);
    if (!hostLink) throw new CniError(CniCode.Internal, `host-side veth ${hostVeth} vanished right after creation`);
    const podLink = configurePod({ netns: req.netns, ifname: req.ifname, addresses, routes, hostMac });
    configureHost(sock, hostLink, addresses, podMac);
    registerEndpoint(conf.bpfRoot, {
      owner: ownerId(req.containerId, req.ifname),
      ifindex: hostLink.index,
      podMac,
      hostMac,
      addresses,
      fastPath: conf.fastPath,
    });
    attachHostVeth(programs, conf.bpfRoot, hostVeth, hostLink.index);
    writeRecord(conf.stateDir, {
      containerId: req.containerId,
      ifname: req.ifname,
      netns: req.netns,
      network: conf.name,
      hostVeth,
      hostIfindex: hostLink.index,
      hostMac,
      podMac,
      ips: addresses.map(prefixText),
      config: req.stdin,
      argsRaw: req.argsRaw,
    });
    const resultRoutes: CniRoute[] = routes.map((r) => ({ dst: prefixText(r), gw: GATEWAY[r.family] }));
    const result: CniResult = {
      cniVersion: req.cniVersion,
      interfaces: [
        { name: hostVeth, mac: hostMac },
        { name: req.ifname, mac: podLink.mac || podMac, sandbox: req.netns, mtu },
      ],
      ips: addresses.map((a) => ({ address: prefixText(a), gateway: GATEWAY[a.family], interface: 1 })),
      routes: resultRoutes,
    };
    if (ipam.dns && Object.keys(ipam.dns).length > 0) result.dns = ipam.dns;
    return result;
  } finally {
    sock.close();
  }
}

export async function vethAdd(req: CniRequest): Promise<CniResult> {
  const conf = parseVethConfig(req.config, req.cniVersion);
  if (!isNetnsPath(req.netns)) {
    throw new CniError(
      CniCode.InvalidNetns,
      `CNI_NETNS "${req.netns}" is not a network namespace (no nsfs file there)`,
    );
  }
  if (podHasInterface(req.netns, req.ifname)) {
    throw new CniError(
      CniCode.AlreadyAttached,
      `interface ${req.ifname} already exists in ${req.netns}: container ${req.containerId} is already attached (DEL it first)`,
    );
  }
  const programs = ensurePrograms(conf.bpfRoot, conf.stateDir);
  try {
    const ipam = await ipamAdd(ipamCallOf(req));
    try {
      return plumb(req, conf, programs, ipam);
    } catch (e) {
      teardown(conf, req.containerId, req.ifname);
      removeRecord(conf.stateDir, hostVethName(conf.hostVethPrefix, req.containerId, req.ifname));
      await runIpam({ ...ipamCallOf(req), command: 'DEL' }).catch(() => undefined);
      throw e;
    }
  } finally {
    programs.close();
  }
}
