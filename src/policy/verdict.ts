import { familyWidth, hostPrefix } from './cidr.ts';
import type { CompiledDirection, CompiledInterface } from './compile.ts';
import { lookupFlat } from './flatten.ts';

/**
 * The verdict the BPF program takes for the first packet of a connection, computed from the
 * compiler's output in TypeScript (longest-prefix match done naively): the reference that the
 * compiler's unit tests check semantics with, independent of the kernel.
 */
export interface Probe {
  /** The other end's address. */
  peer: string;
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1/58 ICMP). */
  proto: number;
  /** Destination port of the connection; ignored for protocols without ports. */
  port?: number;
}

const PORT_PROTOCOLS = new Set([6, 17, 132]);

export function directionAllows(d: CompiledDirection, probe: Probe): boolean {
  if (!d.isolated) return true;
  const peer = hostPrefix(probe.peer);
  const table = peer.family === 4 ? d.peer4 : d.peer6;
  const peerBits = lookupFlat(table, peer.addr, familyWidth(peer.family)) | d.anyPeer;
  let portBits = d.anyPort;
  if (PORT_PROTOCOLS.has(probe.proto) && probe.port !== undefined) {
    portBits |= lookupFlat(d.ports, BigInt((probe.proto << 16) | probe.port), 24);
  }
  return (peerBits & portBits) !== 0n;
}

/** `ingress`: a connection from the peer to the pod; `egress`: from the pod to the peer. */
export function allows(c: CompiledInterface, direction: 'ingress' | 'egress', probe: Probe): boolean {
  return directionAllows(c[direction], probe);
}
