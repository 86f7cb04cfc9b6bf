import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnp, pod, view } from '../unit/policy/fixtures.ts';
import { buildBpfObjects, isRoot } from './env.ts';
import { createHarness, DROP, PASS, type Harness, type TestIface } from './mnp-harness.ts';
import { flowPacket, type L4Name } from './mnp-packets.ts';

/** The semantics table, run through the real program for IPv4 and IPv6 (first packets of connections). */
const ADDR = {
  v4: {
    server: '10.1.0.10',
    client: '10.1.0.20',
    other: '10.1.0.21',
    foreign: '10.1.0.30',
    ext: '192.0.2.1',
    block: '10.9.0.5',
    except: '10.9.1.5',
    exceptHi: '10.9.1.200',
    clientNet2: '10.2.0.20',
  },
  v6: {
    server: 'fd01::10',
    client: 'fd01::20',
    other: 'fd01::21',
    foreign: 'fd01::30',
    ext: '2001:db8::1',
    block: 'fd09::5',
    except: 'fd09:0:0:1::5',
    exceptHi: 'fd09:0:0:1:8000::1',
    clientNet2: 'fd02::20',
  },
};
type Peer = keyof (typeof ADDR)['v4'];
const BLOCK =
  '{ipBlock: {cidr: 10.9.0.0/16, except: [10.9.1.0/24]}}, {ipBlock: {cidr: "fd09::/48", except: ["fd09:0:0:1::/64"]}}';
const EXCEPT_HI = '{ipBlock: {cidr: 10.9.1.128/25}}, {ipBlock: {cidr: "fd09:0:0:1:8000::/65"}}';

const both = (k: Peer) => [ADDR.v4[k], ADDR.v6[k]];
const server = pod('app', 'server', { app: 'server' }, { 'app/net1': both('server') }, [
  { name: 'http', protocol: 'TCP', port: 8080 },
]);
const cluster = view(
  [
    server,
    pod('app', 'client', { app: 'client' }, { 'app/net1': both('client'), 'app/net2': both('clientNet2') }),
    pod('app', 'other', { app: 'other' }, { 'app/net1': both('other') }),
    pod('other', 'client', { app: 'client' }, { 'app/net1': both('foreign') }),
  ],
  [
    { name: 'other', labels: { team: 'b' } },
    { name: 'empty', labels: { team: 'c' } },
  ],
);

type Check = [dir: 'in' | 'out', peer: Peer, proto: L4Name, port: number, verdict: 'pass' | 'drop'];
interface Row {
  name: string;
  policy: string;
  checks: Check[];
}
const policy = (spec: string, policyFor = 'net1') =>
  mnp('p', 'app', policyFor, `podSelector: {matchLabels: {app: server}}\n${spec}`);

const ROWS: Row[] = [
  {
    name: 'no selecting policy',
    policy: policy('ingress: []', 'net2'),
    checks: [
      ['in', 'ext', 'tcp', 80, 'pass'],
      ['out', 'ext', 'udp', 53, 'pass'],
    ],
  },
  {
    name: 'ingress deny-all leaves egress open',
    policy: policy('ingress: []'),
    checks: [
      ['in', 'client', 'tcp', 80, 'drop'],
      ['in', 'client', 'icmp', 0, 'drop'],
      ['out', 'client', 'tcp', 80, 'pass'],
    ],
  },
  {
    name: 'egress deny-all leaves ingress open',
    policy: policy('policyTypes: [Egress]'),
    checks: [
      ['out', 'ext', 'tcp', 443, 'drop'],
      ['in', 'ext', 'tcp', 443, 'pass'],
    ],
  },
  {
    name: 'allow-all rule',
    policy: policy('ingress: [{}]'),
    checks: [
      ['in', 'ext', 'sctp', 1, 'pass'],
      ['in', 'ext', 'icmp', 0, 'pass'],
    ],
  },
  {
    name: 'bare podSelector peer: policy namespace only',
    policy: policy('ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]'),
    checks: [
      ['in', 'client', 'tcp', 80, 'pass'],
      ['in', 'other', 'tcp', 80, 'drop'],
      ['in', 'foreign', 'tcp', 80, 'drop'],
      ['in', 'clientNet2', 'tcp', 80, 'drop'],
    ],
  },
  {
    name: 'namespaceSelector peer',
    policy: policy('ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}}]}]'),
    checks: [
      ['in', 'foreign', 'udp', 5, 'pass'],
      ['in', 'client', 'udp', 5, 'drop'],
    ],
  },
  {
    name: 'namespaceSelector and podSelector intersect',
    policy: policy(
      'ingress: [{from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: In, values: [client]}]}}]}]',
    ),
    checks: [
      ['in', 'foreign', 'tcp', 80, 'pass'],
      ['in', 'client', 'tcp', 80, 'pass'],
      ['in', 'other', 'tcp', 80, 'drop'],
    ],
  },
  {
    name: 'namespaceSelector without pods still isolates',
    policy: policy('ingress: [{from: [{namespaceSelector: {matchLabels: {team: c}}}]}]'),
    checks: [
      ['in', 'client', 'tcp', 80, 'drop'],
      ['in', 'foreign', 'tcp', 80, 'drop'],
    ],
  },
  {
    name: 'ipBlock except narrows only its own peer',
    policy: policy(`ingress: [{from: [${BLOCK}, ${EXCEPT_HI}]}]`),
    checks: [
      ['in', 'block', 'tcp', 80, 'pass'],
      ['in', 'except', 'tcp', 80, 'drop'],
      ['in', 'exceptHi', 'tcp', 80, 'pass'],
      ['in', 'ext', 'tcp', 80, 'drop'],
    ],
  },
  {
    name: 'ports: protocol, number, range, protocol-only',
    policy: policy(
      'ingress: [{ports: [{port: 80}, {protocol: UDP, port: 53}, {protocol: SCTP, port: 9000, endPort: 9010}, {port: 1000, endPort: 1999}]}, {ports: [{protocol: UDP}], from: [{podSelector: {matchLabels: {app: client}}}]}]',
    ),
    checks: [
      ['in', 'ext', 'tcp', 80, 'pass'],
      ['in', 'ext', 'tcp', 81, 'drop'],
      ['in', 'ext', 'udp', 80, 'drop'],
      ['in', 'ext', 'udp', 53, 'pass'],
      ['in', 'ext', 'sctp', 9005, 'pass'],
      ['in', 'ext', 'sctp', 9011, 'drop'],
      ['in', 'ext', 'tcp', 999, 'drop'],
      ['in', 'ext', 'tcp', 1000, 'pass'],
      ['in', 'ext', 'tcp', 1999, 'pass'],
      ['in', 'ext', 'tcp', 2000, 'drop'],
      ['in', 'client', 'udp', 65000, 'pass'],
      ['in', 'other', 'udp', 65000, 'drop'],
      ['in', 'ext', 'icmp', 0, 'drop'],
    ],
  },
  {
    name: 'ports AND peers, named port on the target',
    policy: policy('ingress: [{ports: [{port: http}], from: [{podSelector: {matchLabels: {app: client}}}]}]'),
    checks: [
      ['in', 'client', 'tcp', 8080, 'pass'],
      ['in', 'client', 'tcp', 80, 'drop'],
      ['in', 'other', 'tcp', 8080, 'drop'],
    ],
  },
  {
    name: 'egress to pods and ports',
    policy: policy('egress: [{to: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 5432}]}]'),
    checks: [
      ['out', 'client', 'tcp', 5432, 'pass'],
      ['out', 'client', 'tcp', 5433, 'drop'],
      ['out', 'ext', 'tcp', 5432, 'drop'],
      ['in', 'ext', 'tcp', 80, 'drop'],
    ],
  },
];

describe.skipIf(!isRoot)('mnp program: policy semantics table', () => {
  let h: Harness;
  let target: TestIface;
  let sport = 20000;
  beforeAll(() => {
    buildBpfObjects();
    h = createHarness();
    target = h.iface(server, 'app/net1');
  });
  afterAll(() => h?.destroy());

  for (const family of ['v4', 'v6'] as const) {
    it.each(ROWS)(`${family}: $name`, ({ policy: yaml, checks }) => {
      h.apply(yaml, cluster);
      const got = checks.map(([dir, peer, proto, port]) => {
        const [src, dst] =
          dir === 'in' ? [ADDR[family][peer], ADDR[family].server] : [ADDR[family].server, ADDR[family][peer]];
        const verdict = target.run(dir, flowPacket({ src, dst, proto, sport: sport++, dport: port }));
        return verdict === PASS ? 'pass' : verdict === DROP ? 'drop' : `retval ${verdict}`;
      });
      expect(got).toEqual(checks.map((c) => c[4]));
    });
  }
});
