import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BpfObject } from '../../src/bpf/object.ts';
import { testRun, skbContext } from '../../src/bpf/test-run.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { createVethPair, findLink } from '../../src/net/links.ts';
import { NetlinkSocket } from '../../src/net/netlink-socket.ts';
import { EP_F_SLOWPATH, EndpointMaps, zeroStats, type Endpoint } from '../../src/veth/endpoint-map.ts';
import { arpPacket, describeFrame, ethernet, icmp, ipPacket, tcp, udp, TCP } from '../helpers/packets.ts';
import { addNetns, bpfObjectDir, buildBpfObjects, delNetns, isRoot, makePinRoot, type PinRoot } from './env.ts';

const TC_ACT_UNSPEC = -1;
const TC_ACT_REDIRECT = 7;

// Two simulated host-side veths (hA for pod A, hB for pod B) in a throwaway namespace, so that
// the test runs' ctx.ifindex names real devices and the per-ifindex counters can be checked.
const POD_A = { v4: '10.80.0.10', v6: 'fd80::10', mac: '02:00:00:aa:00:01', hostMac: '02:00:00:aa:00:fe' };
const POD_B = { v4: '10.80.0.20', v6: 'fd80::20', mac: '02:00:00:bb:00:01', hostMac: '02:00:00:bb:00:fe' };
const HOST_ADDR = { v4: '192.168.77.1', v6: 'fd99::1' };

describe.skipIf(!isRoot)('braid-veth datapath (BPF_PROG_TEST_RUN)', () => {
  let pins: PinRoot;
  let ns: string;
  let obj: BpfObject;
  let maps: EndpointMaps;
  let hA: number;
  let hB: number;

  beforeAll(() => {
    buildBpfObjects();
    pins = makePinRoot();
    ns = addNetns('braid-t-dp');
    const sock = NetlinkSocket.in(`/run/netns/${ns}`);
    createVethPair(sock, { name: 'hA' }, { name: 'pA' }, { mtu: 1500 });
    createVethPair(sock, { name: 'hB' }, { name: 'pB' }, { mtu: 1500 });
    hA = findLink(sock, 'hA')!.index;
    hB = findLink(sock, 'hB')!.index;
    sock.close();
    obj = BpfObject.open(join(bpfObjectDir, 'veth.o'), { pinRoot: pins.path });
    obj.load();
    maps = EndpointMaps.open(pins.path);
  });

  afterAll(() => {
    maps?.close();
    obj?.close();
    if (ns) delNetns(ns);
    pins?.cleanup();
  });

  beforeEach(() => {
    for (const k of maps.endpoints.keys()) maps.endpoints.delete(k);
    for (const k of maps.stats.keys()) maps.stats.delete(k);
    const a: Endpoint = { ifindex: hA, flags: 0, podMac: POD_A.mac, hostMac: POD_A.hostMac, owner: 1n };
    const b: Endpoint = { ifindex: hB, flags: 0, podMac: POD_B.mac, hostMac: POD_B.hostMac, owner: 2n };
    for (const [pod, ep] of [
      [POD_A, a],
      [POD_B, b],
    ] as const) {
      maps.endpoints.update({ family: 4, address: pod.v4 }, ep);
      maps.endpoints.update({ family: 6, address: pod.v6 }, ep);
    }
    maps.stats.update(hA, zeroStats());
    maps.stats.update(hB, zeroStats());
  });

  /** Runs a program as if `frame` arrived on (from_pod) or left through (to_pod) host veth `ifindex`. */
  function run(program: 'from_pod' | 'to_pod', frame: Buffer, ifindex = hA) {
    return withNetns(`/run/netns/${ns}`, () =>
      testRun(obj.programFd(program), { data: frame, ctx: skbContext({ ifindex }) }),
    );
  }

  const fromA = { src: POD_A.mac, dst: POD_A.hostMac };

  describe.each([
    ['IPv4 TCP', () => ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, tcp({ flags: TCP.SYN }))],
    ['IPv4 UDP', () => ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, udp())],
    ['IPv4 ICMP', () => ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, icmp())],
    ['IPv6 TCP', () => ipPacket({ src: POD_A.v6, dst: POD_B.v6, eth: fromA }, tcp({ flags: TCP.SYN | TCP.ACK }))],
    ['IPv6 UDP', () => ipPacket({ src: POD_A.v6, dst: POD_B.v6, eth: fromA }, udp())],
    ['IPv6 ICMPv6', () => ipPacket({ src: POD_A.v6, dst: POD_B.v6, eth: fromA }, icmp({ v6: true }))],
  ])('%s from pod A to pod B', (_name, build) => {
    it('is redirected to B with B-side MACs and one hop less', () => {
      const frame = build();
      const r = run('from_pod', frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      const before = describeFrame(frame);
      const after = describeFrame(r.dataOut);
      expect(after.dstMac).toBe(POD_B.mac);
      expect(after.srcMac).toBe(POD_B.hostMac);
      expect(after.ttl).toBe((before.ttl ?? 0) - 1);
      if (after.ipv4CsumOk !== undefined) expect(after.ipv4CsumOk).toBe(true);
      // Past the header fields that change, the packet is untouched.
      const l3 = frame.readUInt16BE(12) === 0x0800 ? 34 : 54;
      expect(r.dataOut.subarray(l3).equals(frame.subarray(l3))).toBe(true);
    });

    it('counts A as sender (and as redirected) and B as receiver', () => {
      const frame = build();
      run('from_pod', frame);
      run('from_pod', frame);
      const a = maps.statsOf(hA)!;
      const b = maps.statsOf(hB)!;
      expect(a).toMatchObject({ txPackets: 2n, txBytes: BigInt(2 * frame.length), redirectPackets: 2n, rxPackets: 0n });
      expect(b).toMatchObject({ rxPackets: 2n, rxBytes: BigInt(2 * frame.length), txPackets: 0n });
    });
  });

  it.each([
    ['IPv4 to a host address', () => ipPacket({ src: POD_A.v4, dst: HOST_ADDR.v4, eth: fromA }, tcp())],
    ['IPv6 to a host address', () => ipPacket({ src: POD_A.v6, dst: HOST_ADDR.v6, eth: fromA }, udp())],
    [
      'ARP request for the gateway',
      () => arpPacket({ senderIp: POD_A.v4, senderMac: POD_A.mac, targetIp: '169.254.1.1' }),
    ],
    [
      'IPv4 with TTL 1 (the stack sends time-exceeded)',
      () => ipPacket({ src: POD_A.v4, dst: POD_B.v4, ttl: 1, eth: fromA }, udp()),
    ],
    ['IPv6 with hop limit 1', () => ipPacket({ src: POD_A.v6, dst: POD_B.v6, ttl: 1, eth: fromA }, udp())],
    [
      'IPv4 ethertype carrying a version-6 header',
      () => {
        const f = ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, udp());
        f.writeUInt8(0x65, 14);
        return f;
      },
    ],
    // (The kernel's test run refuses IP frames with truncated headers, so those cannot be fed in.)
    ['an LLDP frame', () => ethernet(0x88cc, Buffer.alloc(46), fromA)],
  ])('leaves %s to the host stack, unchanged but counted', (_name, build) => {
    const frame = build();
    const r = run('from_pod', frame);
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut.equals(frame)).toBe(true);
    expect(maps.statsOf(hA)).toMatchObject({ txPackets: 1n, redirectPackets: 0n });
    expect(maps.statsOf(hB)).toMatchObject({ rxPackets: 0n });
  });

  it('sends traffic to a slow-path endpoint through the stack (its host-veth egress hooks still run)', () => {
    const ep = maps.endpoints.lookup({ family: 4, address: POD_B.v4 })!;
    maps.endpoints.update({ family: 4, address: POD_B.v4 }, { ...ep, flags: EP_F_SLOWPATH });
    const r = run('from_pod', ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, tcp()));
    expect(r.retval).toBe(TC_ACT_UNSPEC);
  });

  it('does not redirect a pod to itself', () => {
    const r = run('from_pod', ipPacket({ src: POD_A.v4, dst: POD_A.v4, eth: fromA }, tcp()));
    expect(r.retval).toBe(TC_ACT_UNSPEC);
  });

  it('still redirects when the sender has no counters entry, and creates none', () => {
    maps.stats.delete(hA);
    const r = run('from_pod', ipPacket({ src: POD_A.v4, dst: POD_B.v4, eth: fromA }, udp()));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(maps.statsOf(hA)).toBeUndefined();
    expect(maps.statsOf(hB)).toMatchObject({ rxPackets: 1n });
  });

  it('to_pod counts what the host stack delivers to a pod and lets it through', () => {
    const frame = ipPacket({ src: HOST_ADDR.v4, dst: POD_B.v4, eth: { src: POD_B.hostMac, dst: POD_B.mac } }, tcp());
    const r = run('to_pod', frame, hB);
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut.equals(frame)).toBe(true);
    expect(maps.statsOf(hB)).toMatchObject({ rxPackets: 1n, rxBytes: BigInt(frame.length), txPackets: 0n });
  });

  it('stays cheap: the redirect decision costs well under a microsecond per packet', () => {
    // A repeated run reuses the same skb, so each run takes one more hop off the TTL: 200 runs
    // from TTL 255 all redirect.
    const frame = ipPacket({ src: POD_A.v4, dst: POD_B.v4, ttl: 255, eth: fromA }, tcp());
    const r = withNetns(`/run/netns/${ns}`, () =>
      testRun(obj.programFd('from_pod'), { data: frame, ctx: skbContext({ ifindex: hA }), repeat: 200 }),
    );
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.durationNs).toBeLessThan(1000);
  });
});
