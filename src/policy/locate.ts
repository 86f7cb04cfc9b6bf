import { CniCode, CniError } from '../base/errors.ts';
import { currentNetnsCookie, netnsCookie } from '../bpf/netns-cookie.ts';
import { findLink, findLinkByIndex } from '../net/links.ts';
import { withNetlink } from '../net/netlink-socket.ts';
import type { HookPlace } from './registry.ts';

/**
 * Where an interface's policy programs go (ebpf.md section 4): on the host side of a veth,
 * out of the pod's reach and without entering its namespace on every packet path change; for
 * devices without a host peer (macvlan, ipvlan, host-device, SR-IOV VFs) on the device inside
 * the pod's namespace. "Host" is the calling thread's network namespace.
 */
export interface HookLocation {
  place: HookPlace;
  ifname: string;
  ifindex: number;
  netnsCookie: bigint;
  /** The pod device's kind ("veth", "macvlan", ...), for messages. */
  podKind?: string;
}

export function locateHook(netns: string, ifname: string, label: string, podSide = false): HookLocation {
  const podLink = withNetlink(netns, (sock) => findLink(sock, ifname));
  if (!podLink) {
    throw new CniError(
      CniCode.IoFailure,
      `${label}: no interface ${ifname} in network namespace ${netns} to attach policy to`,
    );
  }
  if (!podSide && podLink.kind === 'veth' && podLink.parentIndex) {
    const peer = podLink.parentIndex;
    const host = withNetlink(undefined, (sock) => findLinkByIndex(sock, peer));
    // The index alone could name an unrelated device here: it must be a veth pointing back.
    if (host && host.kind === 'veth' && host.parentIndex === podLink.index) {
      return {
        place: 'host-veth',
        ifname: host.name,
        ifindex: host.index,
        netnsCookie: currentNetnsCookie(),
        podKind: 'veth',
      };
    }
  }
  const loc: HookLocation = {
    place: 'pod-device',
    ifname: podLink.name,
    ifindex: podLink.index,
    netnsCookie: netnsCookie(netns),
  };
  if (podLink.kind) loc.podKind = podLink.kind;
  return loc;
}
