/**
 * IPv6 link-local peers. A pod's network-status lists the addresses its plugin assigned, never
 * the fe80:: address the kernel gives every IPv6 interface, so a selector peer would not know a
 * pod that talks link-local on a shared link (macvlan, a bridge). braid counts that address as the
 * pod's when it can tell it: the one the kernel derives from the interface's MAC (modified EUI-64,
 * RFC 4291 appendix A; the kernel default, addr_gen_mode 0). An address made another way (stable
 * privacy, random, set by hand) stays unknown and is judged like any other unknown address.
 */
export function eui64LinkLocal(mac: string): string | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(mac.trim());
  if (!m) return undefined;
  const b = m.slice(1).map((h) => parseInt(h, 16));
  const group = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  // Universal/local bit flipped, ff:fe in the middle.
  return `fe80::${group(b[0]! ^ 0x02, b[1]!)}:${group(b[2]!, 0xff)}:${group(0xfe, b[3]!)}:${group(b[4]!, b[5]!)}`;
}
