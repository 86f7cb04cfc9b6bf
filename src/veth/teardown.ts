import { deleteLink } from '../net/links.ts';
import { NetlinkSocket } from '../net/netlink-socket.ts';
import type { VethConfig } from './config.ts';
import { detachHostVeth } from './datapath.ts';
import { unregisterEndpoint } from './endpoints.ts';
import { hostVethName, ownerId } from './names.ts';
import { readRecord } from './state.ts';

/**
 * Removes everything of one attachment except its IP reservation and record, whether or not
 * the pod's namespace still exists: the tcx links (pins), the veth pair (which takes the pod
 * side, host routes and neighbour entries with it) and the endpoint-map entries and counters.
 * Continues past failures and returns them.
 */
export function teardown(conf: VethConfig, containerId: string, ifname: string): Error[] {
  const hostVeth = hostVethName(conf.hostVethPrefix, containerId, ifname);
  const record = readRecord(conf.stateDir, hostVeth);
  const errors: Error[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(e as Error);
    }
  };
  attempt(() => detachHostVeth(conf.bpfRoot, hostVeth));
  attempt(() => {
    const sock = NetlinkSocket.open();
    try {
      deleteLink(sock, hostVeth);
    } finally {
      sock.close();
    }
  });
  attempt(() => unregisterEndpoint(conf.bpfRoot, ownerId(containerId, ifname), record ? [record.hostIfindex] : []));
  return errors;
}
