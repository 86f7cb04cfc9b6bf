import { parseResult } from '../cni/convert.ts';
import { CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import type { CniResult } from '../cni/result.ts';
import { formatIp, parseIp, parsePrefix } from '../net/ip.ts';
import { findLink } from '../net/links.ts';
import { NetlinkSocket } from '../net/netlink-socket.ts';
import { isNetnsPath } from '../net/netns.ts';
import { ipamCallOf } from './add.ts';
import { parseVethConfig } from './config.ts';
import { hookProblems } from './datapath.ts';
import { lookupEndpoints } from './endpoints.ts';
import { GATEWAY } from './gateway.ts';
import { hostRoutesOn } from './host-side.ts';
import { runIpam } from './ipam.ts';
import { hostVethName } from './names.ts';
import { expectedGatewayNeighbor, hostPrefix, inspectPod, prefixText } from './pod-side.ts';

function canonicalRoute(dst: string, gw?: string): string {
  const text = prefixText(parsePrefix(dst));
  return gw ? `${text} via ${formatIp(parseIp(gw).bytes)}` : text;
}

function prevResultOf(req: CniRequest): CniResult {
  if (!req.config.prevResult) {
    throw new CniError(
      CniCode.InvalidConfig,
      `braid-veth CHECK of ${req.containerId}/${req.ifname}: Required prevResult missing`,
    );
  }
  return parseResult(req.config.prevResult, req.cniVersion);
}

/**
 * CHECK (E2-E5): the pod interface, its addresses, gateway neighbour and routes from the ADD
 * result; the host veth, host routes, both tcx hooks and the endpoint entries; then IPAM CHECK.
 * Extra routes or a changed MAC from later plugins are tolerated (E3).
 */
export async function vethCheck(req: CniRequest): Promise<void> {
  const conf = parseVethConfig(req.config, req.cniVersion);
  const prev = prevResultOf(req);
  const hostVeth = hostVethName(conf.hostVethPrefix, req.containerId, req.ifname);
  const problems: string[] = [];
  if (!isNetnsPath(req.netns))
    throw new CniError(CniCode.InvalidNetns, `CNI_NETNS "${req.netns}" is not a network namespace`);

  const pod = inspectPod(req.netns, req.ifname);
  const addresses = (prev.ips ?? []).map((ip) => prefixText(hostPrefix(ip.address)));
  const hostSock = NetlinkSocket.open();
  try {
    const hostLink = findLink(hostSock, hostVeth);
    if (!pod.link) problems.push(`interface ${req.ifname} is missing in ${req.netns}`);
    else if (pod.link.kind !== 'veth')
      problems.push(`interface ${req.ifname} in ${req.netns} is a ${pod.link.kind ?? 'device'}, not a veth`);
    for (const a of addresses)
      if (pod.link && !pod.addresses.includes(a)) problems.push(`address ${a} is missing on ${req.ifname}`);
    for (const r of prev.routes ?? []) {
      const want = canonicalRoute(r.dst, r.gw);
      if (pod.link && !pod.routes.includes(want)) problems.push(`route ${want} is missing in ${req.netns}`);
    }
    if (!hostLink) {
      problems.push(`host-side veth ${hostVeth} is missing`);
    } else {
      const families = new Set(addresses.map((a) => parsePrefix(a).family));
      for (const f of families) {
        const want = expectedGatewayNeighbor(f, hostLink.mac);
        if (pod.link && !pod.neighbors.includes(want)) {
          problems.push(`permanent neighbour ${GATEWAY[f]} → ${hostLink.mac} is missing in ${req.netns}`);
        }
      }
      const hostRoutes = hostRoutesOn(hostSock, hostLink.index);
      for (const a of addresses)
        if (!hostRoutes.includes(a)) problems.push(`host route ${a} dev ${hostVeth} is missing`);
      problems.push(...hookProblems(conf.bpfRoot, hostVeth, hostLink.index));
      for (const [a, ep] of lookupEndpoints(conf.bpfRoot, addresses)) {
        if (!ep) problems.push(`endpoint map has no entry for ${a}`);
        else if (ep.ifindex !== hostLink.index)
          problems.push(`endpoint entry for ${a} points at ifindex ${ep.ifindex}, not ${hostVeth} (${hostLink.index})`);
      }
    }
  } finally {
    hostSock.close();
  }
  if (problems.length > 0) {
    throw new CniError(
      CniCode.Internal,
      `braid-veth CHECK of ${req.containerId}/${req.ifname} failed: ${problems.join('; ')}`,
    );
  }
  await runIpam({ ...ipamCallOf(req), command: 'CHECK' });
}
