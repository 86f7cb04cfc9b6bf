import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TCP, arpPacket, ipPacket, tcp, udp } from '../helpers/packets.ts';
import { F_ALLOW_DHCP, F_ALLOW_MLD, CT_CLOSING, type FragEntry, type FragKey } from '../../src/policy/layout.ts';
import { mnp, pod, view } from '../unit/policy/fixtures.ts';
import { buildBpfObjects, isRoot } from './env.ts';
import { createHarness, DROP, PASS, type Harness, type TestIface } from './mnp-harness.ts';
import {
  firstFragment,
  flowPacket,
  fragmentOf,
  icmpError,
  icmpv6,
  laterFragment,
  replyTo,
  vlanTagged,
  withIpv6Extensions,
  type FlowPacket,
} from './mnp-packets.ts';

/** Connection tracking and the traffic that passes whatever the policy, for IPv4 and IPv6. */
const FAMILIES = {
  v4: { server: '10.1.0.10', client: '10.1.0.20', other: '10.1.0.21', ext: '192.0.2.1', router: '10.1.0.1' },
  v6: { server: 'fd01::10', client: 'fd01::20', other: 'fd01::21', ext: '2001:db8::1', router: 'fd01::1' },
};
const server = pod('app', 'server', { app: 'server' }, { 'app/net1': [FAMILIES.v4.server, FAMILIES.v6.server] });
const client = pod('app', 'client', { app: 'client' }, { 'app/net1': [FAMILIES.v4.client, FAMILIES.v6.client] });
const cluster = view([server, client]);
const policy = (spec: string) => mnp('p', 'app', 'net1', `podSelector: {}\n${spec}`);
const DENY_BOTH = policy('policyTypes: [Ingress, Egress]');
const FROM_CLIENT = 'ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]';

describe.skipIf(!isRoot)('mnp program: connection tracking', () => {
  let h: Harness | undefined;
  let t: TestIface;
  beforeAll(() => buildBpfObjects());
  afterEach(() => {
    h?.destroy();
    h = undefined;
  });
  const setup = (yaml: string, options = 0) => {
    h = createHarness();
    t = h.iface(server, 'app/net1', options);
    h.apply(yaml, cluster);
  };
  const send = (dir: 'in' | 'out', f: FlowPacket) => t.run(dir, flowPacket(f));

  for (const [family, a] of Object.entries(FAMILIES)) {
    describe(family, () => {
      it('passes replies of a pod-initiated connection when only ingress is isolated', () => {
        setup(policy('ingress: []'));
        const syn: FlowPacket = { src: a.server, dst: a.ext, sport: 40001, dport: 443 };
        expect(send('out', syn)).toBe(PASS);
        expect(send('in', replyTo(syn))).toBe(PASS);
        expect(send('out', { ...syn, flags: TCP.ACK })).toBe(PASS);
        expect(send('in', replyTo(syn, TCP.ACK | TCP.PSH))).toBe(PASS);
        expect(send('in', { src: a.ext, dst: a.server, sport: 443, dport: 40002 })).toBe(DROP);
        expect(t.stats('out')).toMatchObject({
          allowUnisolated: 1n,
          allowEstablished: 1n,
          ctCreated: 1n,
          allowedPackets: 2n,
        });
        expect(t.stats('in')).toMatchObject({ allowReply: 2n, denyPolicy: 1n, deniedPackets: 1n });
      });

      it('passes replies against an isolated direction that allows nothing', () => {
        setup(
          policy(
            `policyTypes: [Ingress, Egress]\negress: [{to: [{podSelector: {matchLabels: {app: client}}}], ports: [{protocol: UDP, port: 53}]}]`,
          ),
        );
        const q: FlowPacket = { src: a.server, dst: a.client, proto: 'udp', sport: 5000, dport: 53 };
        expect(send('out', q)).toBe(PASS);
        expect(send('in', replyTo(q))).toBe(PASS);
        expect(send('out', { ...q, dport: 54 })).toBe(DROP);
        expect(send('in', { ...replyTo(q), sport: 54 })).toBe(DROP);
      });

      it('lets an RST answer a SYN and then expires the entry quickly', () => {
        setup(policy('policyTypes: [Ingress, Egress]\negress: [{}]'));
        const syn: FlowPacket = { src: a.server, dst: a.ext, sport: 40010, dport: 22 };
        expect(send('out', syn)).toBe(PASS);
        expect(send('in', replyTo(syn, TCP.RST | TCP.ACK))).toBe(PASS);
        const [entry] = h!.ctEntries(t.ifaceId);
        expect(entry!.flags & CT_CLOSING).toBe(CT_CLOSING);
        const remainingS = Number(entry!.expires - process.hrtime.bigint()) / 1e9;
        expect(remainingS).toBeGreaterThan(5);
        expect(remainingS).toBeLessThanOrEqual(10);
      });

      it('passes ICMP errors related to a tracked flow, from any router, and drops unrelated ones', () => {
        setup(policy(`policyTypes: [Ingress, Egress]\negress: [{ports: [{protocol: UDP, port: 53}]}]`));
        const q: FlowPacket = { src: a.server, dst: a.ext, proto: 'udp', sport: 5353, dport: 53 };
        const v6 = family === 'v6';
        expect(send('out', q)).toBe(PASS);
        expect(t.run('in', ipPacket({ src: a.router, dst: a.server }, icmpError(flowPacket(q), v6)))).toBe(PASS);
        const unrelated = flowPacket({ ...q, dport: 54 });
        expect(t.run('in', ipPacket({ src: a.router, dst: a.server }, icmpError(unrelated, v6)))).toBe(DROP);
        expect(t.stats('in').allowRelated).toBe(1n);
      });

      it('tracks ICMP echo by identifier', () => {
        setup(policy(`policyTypes: [Ingress, Egress]\n${FROM_CLIENT}`));
        const ping: FlowPacket = { src: a.client, dst: a.server, proto: 'icmp', sport: 77 };
        expect(send('in', ping)).toBe(PASS);
        expect(send('out', replyTo(ping))).toBe(PASS);
        expect(send('in', { ...ping, src: a.other })).toBe(DROP);
        expect(send('out', { ...replyTo(ping), sport: 78, dport: 78 })).toBe(DROP);
      });

      it('drops replies once the entry expired', () => {
        setup(policy('ingress: []'));
        const syn: FlowPacket = { src: a.server, dst: a.ext, sport: 40020, dport: 80 };
        expect(send('out', syn)).toBe(PASS);
        h!.expireAll();
        expect(send('in', replyTo(syn))).toBe(DROP);
      });

      it('keeps connections across updates that still allow them and cuts those that no longer do', () => {
        setup(policy(FROM_CLIENT));
        const syn: FlowPacket = { src: a.client, dst: a.server, sport: 40030, dport: 80 };
        const data = { ...syn, flags: TCP.ACK };
        expect(send('in', syn)).toBe(PASS);
        expect(send('out', replyTo(syn))).toBe(PASS);
        const [kept] = h!.apply(
          policy(
            `ingress: [{from: [{podSelector: {matchLabels: {app: client}}}, {ipBlock: {cidr: 198.51.100.0/24}}]}]`,
          ),
          cluster,
        );
        expect(kept).toMatchObject({ changed: true, written: 1, deleted: 0 });
        expect(send('in', data)).toBe(PASS);
        h!.apply(policy('ingress: []'), cluster);
        expect(send('in', data)).toBe(DROP);
        expect(send('out', replyTo(syn, TCP.ACK))).toBe(DROP);
        expect(t.stats('in').denyRevoked).toBe(1n);
        h!.apply(policy(FROM_CLIENT), cluster);
        expect(send('in', data)).toBe(PASS);
        const [same] = h!.apply(policy(FROM_CLIENT), cluster);
        expect(same).toMatchObject({ changed: false, written: 0 });
      });

      describe('fragments', () => {
        const FROM_CLIENT_UDP53 =
          'ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{protocol: UDP, port: 53}]}]';
        const datagram = (f: Partial<FlowPacket> = {}) =>
          flowPacket({ src: a.client, dst: a.server, proto: 'udp', sport: 5300, dport: 53, ...f });

        it('gives later fragments the verdict of their first fragment, port rules included', () => {
          setup(policy(FROM_CLIENT_UDP53));
          const ok = datagram();
          const remembered = (): [FragKey, FragEntry][] =>
            h!.maps.frag!.entries().filter(([k]) => k.ifaceId === t.ifaceId);
          expect(t.run('in', firstFragment(ok, 0x101))).toBe(PASS);
          expect(t.run('in', laterFragment(ok, 0x101, true))).toBe(PASS);
          expect(remembered()).toHaveLength(1);
          const [key, entry] = remembered()[0]!;
          expect(key).toMatchObject({ id: 0x101, proto: 17, dir: 0, family: family === 'v4' ? 4 : 6 });
          expect(entry).toMatchObject({ sport: 5300, dport: 53, allowed: true });
          // The last fragment closes the datagram.
          expect(t.run('in', laterFragment(ok, 0x101))).toBe(PASS);
          expect(remembered()).toEqual([]);
          expect(t.stats('in')).toMatchObject({
            allowPolicy: 3n,
            ctCreated: 1n,
            allowedPackets: 3n,
            deniedPackets: 0n,
          });
          // The reply datagram, fragmented as well, belongs to the connection the request opened.
          const reply = flowPacket(replyTo({ src: a.client, dst: a.server, proto: 'udp', sport: 5300, dport: 53 }));
          expect(t.run('out', firstFragment(reply, 0x202))).toBe(PASS);
          expect(t.run('out', laterFragment(reply, 0x202))).toBe(PASS);
        });

        it('drops the fragments after a dropped first fragment, although their data looks like an allowed header', () => {
          setup(policy(FROM_CLIENT_UDP53));
          const denied = datagram({ dport: 54 });
          expect(t.run('in', firstFragment(denied, 0x303))).toBe(DROP);
          // The decoy: a later fragment whose data starts like a UDP header to port 53.
          expect(
            t.run(
              'in',
              fragmentOf(denied, {
                id: 0x303,
                offset: 1480,
                more: false,
                data: datagram().subarray(family === 'v4' ? 34 : 54),
              }),
            ),
          ).toBe(DROP);
          expect(t.stats('in')).toMatchObject({ denyPolicy: 2n, deniedPackets: 2n, denyFragmentOrder: 0n });
          // Another peer, same id: its own datagram.
          expect(
            t.run('in', firstFragment(flowPacket({ src: a.other, dst: a.server, proto: 'udp', dport: 53 }), 0x303)),
          ).toBe(DROP);
        });

        it('drops a later fragment that comes before its first and counts it apart', () => {
          setup(policy(FROM_CLIENT_UDP53));
          const ok = datagram();
          expect(t.run('in', laterFragment(ok, 0x404))).toBe(DROP);
          expect(t.stats('in')).toMatchObject({ denyFragmentOrder: 1n, deniedPackets: 1n });
          expect(t.run('in', firstFragment(ok, 0x404))).toBe(PASS);
          expect(t.run('in', laterFragment(ok, 0x404))).toBe(PASS);
          // A direction without isolation lets it through: every datagram is allowed there.
          expect(
            t.run('out', laterFragment(flowPacket({ src: a.server, dst: a.ext, proto: 'udp', dport: 9 }), 0x505)),
          ).toBe(PASS);
          expect(t.stats('out').allowUnisolated).toBe(1n);
        });

        it('drops a first fragment too short for its ports, and its followers with it', () => {
          setup(policy(FROM_CLIENT_UDP53));
          const ok = datagram();
          const tiny = fragmentOf(ok, { id: 0x707, offset: 0, more: true, data: Buffer.from([0x14, 0xb4]) });
          expect(t.run('in', tiny)).toBe(DROP);
          expect(t.run('in', laterFragment(ok, 0x707))).toBe(DROP);
          expect(t.stats('in')).toMatchObject({ denyMalformed: 2n, allowedPackets: 0n });
        });

        if (family === 'v6') {
          it('treats an atomic fragment (offset 0, no more fragments) as a whole datagram', () => {
            setup(policy(FROM_CLIENT_UDP53));
            expect(t.run('in', fragmentOf(datagram(), { id: 0x808, offset: 0, more: false }))).toBe(PASS);
            expect(t.run('in', fragmentOf(datagram({ dport: 54 }), { id: 0x809, offset: 0, more: false }))).toBe(DROP);
            expect(h!.maps.frag!.entries().filter(([k]) => k.ifaceId === t.ifaceId)).toEqual([]);
          });
        }

        it('drops the followers of a first fragment that a policy update revoked', () => {
          setup(policy(FROM_CLIENT));
          const ok = datagram();
          expect(t.run('in', ok)).toBe(PASS);
          h!.apply(policy('ingress: []'), cluster);
          expect(t.run('in', firstFragment(ok, 0x606))).toBe(DROP);
          expect(t.run('in', laterFragment(ok, 0x606))).toBe(DROP);
          expect(t.stats('in').denyRevoked).toBe(2n);
        });
      });
    });
  }

  it('always passes ARP and IPv6 neighbor discovery; MLD and DHCP only when enabled', () => {
    setup(DENY_BOTH);
    const v6 = FAMILIES.v6;
    expect(t.run('in', arpPacket({ senderIp: '10.1.0.20', targetIp: '10.1.0.10' }))).toBe(PASS);
    expect(t.run('out', arpPacket({ op: 2, senderIp: '10.1.0.10', targetIp: '10.1.0.20' }))).toBe(PASS);
    for (const type of [133, 134, 135, 136, 137]) {
      expect(t.run('in', icmpv6({ src: 'fe80::1', dst: 'ff02::1:ff00:10' }, type)), `ICMPv6 type ${type}`).toBe(PASS);
    }
    expect(t.run('out', icmpv6({ src: 'fe80::10', dst: 'ff02::16' }, 143))).toBe(DROP);
    const dhcp = ipPacket({ src: '0.0.0.0', dst: '255.255.255.255' }, udp({ sport: 68, dport: 67 }));
    const dhcp6 = ipPacket({ src: 'fe80::10', dst: 'ff02::1:2' }, udp({ sport: 546, dport: 547 }));
    expect([t.run('out', dhcp), t.run('out', dhcp6)]).toEqual([DROP, DROP]);
    expect(t.run('in', flowPacket({ src: v6.client, dst: v6.server }))).toBe(DROP);
    h!.destroy();
    setup(DENY_BOTH, F_ALLOW_DHCP | F_ALLOW_MLD);
    expect(t.run('out', icmpv6({ src: 'fe80::10', dst: 'ff02::16' }, 143))).toBe(PASS);
    expect([t.run('out', dhcp), t.run('out', dhcp6)]).toEqual([PASS, PASS]);
    expect(t.run('in', ipPacket({ src: '10.1.0.1', dst: '10.1.0.10' }, udp({ sport: 67, dport: 68 })))).toBe(PASS);
    expect(t.stats('out').allowDhcp).toBe(2n);
  });

  it('reads ports behind IPv6 extension headers and drops VLAN-tagged frames on isolated interfaces', () => {
    setup(policy(`ingress: [{ports: [{port: 80}]}]`));
    const v6 = FAMILIES.v6;
    const to = (dport: number) =>
      withIpv6Extensions(
        ipPacket({ src: v6.client, dst: v6.server }, tcp({ sport: 41000 + dport, dport })),
        [0, 60, 43],
      );
    expect(t.run('in', to(80))).toBe(PASS);
    expect(t.run('in', to(81))).toBe(DROP);
    expect(t.run('in', vlanTagged(flowPacket({ src: '10.1.0.20', dst: '10.1.0.10', dport: 80 })))).toBe(DROP);
    expect(t.run('out', vlanTagged(flowPacket({ src: '10.1.0.10', dst: '10.1.0.20', dport: 80 })))).toBe(PASS);
    expect(t.stats('in').denyMalformed).toBe(1n);
  });

  it('leaves devices without policy state alone', () => {
    setup(DENY_BOTH);
    expect(h!.runUnmanaged('in', flowPacket({ src: '10.1.0.20', dst: '10.1.0.10' }))).toBe(PASS);
    expect(t.stats('in').allowedPackets + t.stats('in').deniedPackets).toBe(0n);
  });
});
