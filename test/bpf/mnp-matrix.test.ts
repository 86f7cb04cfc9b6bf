import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mnp, pod, view } from '../unit/policy/fixtures.ts';
import type { PodView } from '../../src/policy/model.ts';
import { buildBpfObjects, isRoot } from './env.ts';
import { createHarness, PASS, type Harness, type TestIface } from './mnp-harness.ts';
import { flowPacket, replyTo, type FlowPacket, type L4Name } from './mnp-packets.ts';

/**
 * The acceptance matrix: the scenarios of multi-networkpolicy-iptables' e2e suite (kind + macvlan
 * + nc), replayed through the program on every pod's interface. A connection "reaches" when the
 * first packet passes the client's egress and the server's ingress, and the answer passes both
 * ways back. Run for IPv4 and IPv6.
 */
const NET = 'default/macvlan1';
const NS = 'test';
const ip = (family: 'v4' | 'v6', n: number) => (family === 'v4' ? `2.2.5.${n}` : `2001:db8:5::${n}`);
const cidr = (family: 'v4' | 'v6', n: number, len?: number) =>
  `${ip(family, n)}/${len ?? (family === 'v4' ? 32 : 128)}`;
const NAMES = { server: 1, a: 11, b: 12, c: 13 } as const;
type Name = keyof typeof NAMES;

interface Scenario {
  name: string;
  policies: (f: 'v4' | 'v6') => string;
  /** [from, to, port, protocol, reaches] */
  expect: [Name, Name, number, L4Name, boolean][];
  /** Pods in another namespace. */
  elsewhere?: Name[];
}

const byName = (n: Name) => `{podSelector: {matchLabels: {name: pod-${n}}}}`;
const onServer = (name: string, spec: string, target: Name = 'server') =>
  mnp(name, NS, NET, `podSelector: {matchLabels: {name: pod-${target}}}\n${spec}`);

const SCENARIOS: Scenario[] = [
  {
    name: 'simple ingress',
    policies: () => onServer('p', `policyTypes: [Ingress]\ningress: [{from: [${byName('a')}]}]`),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', false],
      ['server', 'b', 5555, 'tcp', true],
    ],
  },
  {
    name: 'simple egress',
    policies: () => onServer('p', `policyTypes: [Egress]\negress: [{to: [${byName('a')}]}]`),
    expect: [
      ['server', 'a', 5555, 'tcp', true],
      ['server', 'b', 5555, 'tcp', false],
      ['b', 'server', 5555, 'tcp', true],
    ],
  },
  {
    name: 'ingress list',
    policies: () => onServer('p', `ingress: [{from: [${byName('a')}]}, {from: [${byName('c')}]}]`),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', false],
      ['c', 'server', 5555, 'tcp', true],
    ],
  },
  {
    name: 'egress list',
    policies: () => onServer('p', `policyTypes: [Egress]\negress: [{to: [${byName('a')}]}, {to: [${byName('c')}]}]`),
    expect: [
      ['server', 'a', 5555, 'tcp', true],
      ['server', 'b', 5555, 'tcp', false],
      ['server', 'c', 5555, 'udp', true],
    ],
  },
  {
    name: 'stacked policies',
    policies: () =>
      onServer('p1', `ingress: [{from: [${byName('a')}]}]`) + onServer('p2', `ingress: [{from: [${byName('b')}]}]`),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', true],
      ['c', 'server', 5555, 'tcp', false],
    ],
  },
  {
    name: 'ipBlock with except',
    policies: (f) =>
      onServer(
        'p',
        `ingress: [{from: [{ipBlock: {cidr: "${cidr(f, 0, f === 'v4' ? 24 : 120)}", except: ["${cidr(f, NAMES.b)}"]}}]}]`,
      ),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', false],
      ['c', 'server', 5555, 'tcp', true],
    ],
  },
  {
    name: 'ipBlock list',
    policies: (f) =>
      onServer(
        'p',
        `ingress: [{from: [{ipBlock: {cidr: "${cidr(f, NAMES.a)}"}}, {ipBlock: {cidr: "${cidr(f, NAMES.c)}"}}]}]`,
      ),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', false],
      ['c', 'server', 5555, 'tcp', true],
    ],
  },
  {
    name: 'ipBlock stacked',
    policies: (f) =>
      onServer('p1', `ingress: [{from: [{ipBlock: {cidr: "${cidr(f, NAMES.a)}"}}]}]`) +
      onServer('p2', `ingress: [{from: [{ipBlock: {cidr: "${cidr(f, NAMES.b)}"}}]}]`),
    expect: [
      ['a', 'server', 5555, 'tcp', true],
      ['b', 'server', 5555, 'tcp', true],
      ['c', 'server', 5555, 'tcp', false],
    ],
  },
  {
    name: 'port range',
    policies: () =>
      onServer(
        'p',
        `policyTypes: [Egress, Ingress]\negress: [{ports: [{port: 5000, endPort: 5900}]}]\ningress: [{ports: [{port: 6000, endPort: 6900}]}]`,
        'a',
      ),
    expect: [
      ['a', 'b', 5555, 'tcp', true],
      ['a', 'b', 6666, 'tcp', false],
      ['b', 'a', 5555, 'tcp', false],
      ['b', 'a', 6666, 'tcp', true],
    ],
  },
  {
    name: 'protocol-only ports',
    policies: () =>
      onServer(
        'p',
        `policyTypes: [Egress, Ingress]\negress: [{ports: [{protocol: TCP}]}]\ningress: [{ports: [{protocol: UDP}]}]`,
        'a',
      ),
    expect: [
      ['a', 'b', 5555, 'tcp', true],
      ['a', 'b', 6666, 'udp', false],
      ['b', 'a', 5555, 'tcp', false],
      ['b', 'a', 6666, 'udp', true],
    ],
  },
  {
    name: 'namespaceSelector matching no pods',
    policies: () =>
      onServer('p', 'policyTypes: [Ingress]\ningress: [{from: [{namespaceSelector: {matchLabels: {foo: bar}}}]}]'),
    elsewhere: ['b'],
    expect: [
      ['a', 'server', 5555, 'tcp', false],
      ['b', 'server', 5555, 'tcp', false],
      ['server', 'a', 5555, 'tcp', true],
    ],
  },
];

describe.skipIf(!isRoot)('mnp program: acceptance matrix (multi-networkpolicy-iptables e2e)', () => {
  let h: Harness | undefined;
  beforeAll(() => buildBpfObjects());
  afterEach(() => {
    h?.destroy();
    h = undefined;
  });

  for (const family of ['v4', 'v6'] as const) {
    it.each(SCENARIOS)(`${family}: $name`, (s) => {
      h = createHarness();
      const pods = new Map<Name, { pod: PodView; iface: TestIface }>();
      for (const [name, n] of Object.entries(NAMES) as [Name, number][]) {
        const ns = s.elsewhere?.includes(name) ? `${NS}-blue` : NS;
        const p = pod(ns, `pod-${name}`, { app: 'test', name: `pod-${name}` }, { [NET]: [ip(family, n)] });
        pods.set(name, { pod: p, iface: h.iface(p, NET) });
      }
      h.apply(s.policies(family), view([...pods.values()].map((p) => p.pod)));
      let sport = 30000;
      const reaches = (from: Name, to: Name, port: number, proto: L4Name) => {
        const f: FlowPacket = {
          src: ip(family, NAMES[from]),
          dst: ip(family, NAMES[to]),
          proto,
          sport: sport++,
          dport: port,
        };
        const back = replyTo(f);
        return (
          pods.get(from)!.iface.run('out', flowPacket(f)) === PASS &&
          pods.get(to)!.iface.run('in', flowPacket(f)) === PASS &&
          pods.get(to)!.iface.run('out', flowPacket(back)) === PASS &&
          pods.get(from)!.iface.run('in', flowPacket(back)) === PASS
        );
      };
      const got = s.expect.map(
        ([from, to, port, proto]) => `${from}->${to}:${port}/${proto} ${reaches(from, to, port, proto)}`,
      );
      expect(got).toEqual(s.expect.map(([from, to, port, proto, ok]) => `${from}->${to}:${port}/${proto} ${ok}`));
    });
  }
});
