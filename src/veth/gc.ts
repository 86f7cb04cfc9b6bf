import { CniCode } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import { validAttachments } from '../cni/request.ts';
import { pinnedLinkInfo } from '../bpf/tcx.ts';
import { isErrno } from '../net/errno.ts';
import { findLinkByIndex } from '../net/links.ts';
import { NetlinkSocket } from '../net/netlink-socket.ts';
import { parseVethConfig, type VethConfig } from './config.ts';
import { combined } from './del.ts';
import { detachHostVeth, linkPin, pinnedHostVeths, pinDir } from './datapath.ts';
import { EndpointMaps } from './endpoint-map.ts';
import { runIpam, runIpamForPlugin } from './ipam.ts';
import { hostVethName } from './names.ts';
import { listRecords, removeRecord, type EndpointRecord } from './state.ts';
import { teardown } from './teardown.ts';

/** DEL of a stale attachment from its record: datapath state, then the IP reservation. */
async function collect(conf: VethConfig, req: CniRequest, rec: EndpointRecord): Promise<Error[]> {
  const errors = teardown(conf, rec.containerId, rec.ifname);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(rec.config) as Record<string, unknown>;
  } catch {
    config = req.config;
  }
  const cniVersion = typeof config.cniVersion === 'string' ? config.cniVersion : req.cniVersion;
  try {
    await runIpam({
      command: 'DEL',
      path: req.path,
      containerId: rec.containerId,
      netns: '',
      ifname: rec.ifname,
      argsRaw: rec.argsRaw,
      stdin: rec.config,
      config,
      cniVersion,
    });
  } catch (e) {
    errors.push(e as Error);
  }
  if (errors.length === 0) removeRecord(conf.stateDir, rec.hostVeth);
  return errors;
}

/**
 * Leftovers no record explains, removed only when provably dead whatever network they belong
 * to: pinned links whose device is gone, endpoint entries whose host ifindex no longer exists.
 */
function collectDeadLeftovers(conf: VethConfig): void {
  for (const hostVeth of pinnedHostVeths(conf.bpfRoot)) {
    const infos = (['ingress', 'egress'] as const).map((d) => pinnedLinkInfo(linkPin(conf.bpfRoot, hostVeth, d)));
    if (infos.every((i) => !i?.ifindex)) detachHostVeth(conf.bpfRoot, hostVeth);
  }
  let maps: EndpointMaps;
  try {
    maps = EndpointMaps.open(pinDir(conf.bpfRoot));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  const sock = NetlinkSocket.open();
  try {
    for (const [key, ep] of maps.endpoints.entries()) {
      if (!findLinkByIndex(sock, ep.ifindex)) {
        maps.endpoints.delete(key);
        maps.stats.delete(ep.ifindex);
      }
    }
  } finally {
    sock.close();
    maps.close();
  }
}

/**
 * GC (G1-G5): every recorded attachment of this network that the runtime no longer lists is
 * torn down and its address released; dead leftovers are swept; GC goes on to the IPAM plugin
 * when it speaks 1.1.0. Continues past failures and reports them together.
 */
export async function vethGc(req: CniRequest): Promise<void> {
  const conf = parseVethConfig(req.config, req.cniVersion);
  const valid = new Set(
    validAttachments(req.config).map((a) => hostVethName(conf.hostVethPrefix, a.containerID, a.ifname)),
  );
  const errors: Error[] = [];
  for (const rec of listRecords(conf.stateDir)) {
    if (rec.network !== conf.name || valid.has(rec.hostVeth)) continue;
    errors.push(...(await collect(conf, req, rec)));
  }
  try {
    collectDeadLeftovers(conf);
  } catch (e) {
    errors.push(e as Error);
  }
  try {
    await runIpamForPlugin('GC', req);
  } catch (e) {
    errors.push(e as Error);
  }
  if (errors.length > 0) {
    throw combined(`braid-veth GC of network "${conf.name}" incomplete`, errors, CniCode.PartialCleanup);
  }
}
