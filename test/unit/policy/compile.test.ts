import { describe, expect, it } from 'vitest';
import { MAX_GROUPS } from '../../../src/policy/compile.ts';
import { decide, mnp, pod, policiesFrom, view } from './fixtures.ts';

const NET1 = 'app/net1';
const server = pod(
  'app',
  'server',
  { app: 'server', tier: 'back' },
  { [NET1]: ['10.1.0.10', 'fd01::10'], 'app/net2': ['10.2.0.10'] },
  [
    { name: 'http', protocol: 'TCP', port: 8080 },
    { name: 'dns', protocol: 'UDP', port: 5353 },
  ],
);
const client = pod(
  'app',
  'client',
  { app: 'client' },
  { [NET1]: ['10.1.0.20', 'fd01::20'], 'app/net2': ['10.2.0.20'], cbr0: ['10.244.0.20'] },
);
const appOther = pod('app', 'other-client', { app: 'other' }, { [NET1]: ['10.1.0.21'] });
const foreignClient = pod('other', 'client', { app: 'client' }, { [NET1]: ['10.1.0.30'] });
const foreignWeb = pod('other', 'web', { app: 'web' }, { [NET1]: ['10.1.0.31'] }, [
  { name: 'http', protocol: 'TCP', port: 9090 },
]);
const appWeb = pod('app', 'web2', { app: 'web' }, { [NET1]: ['10.1.0.22'] }, [
  { name: 'http', protocol: 'TCP', port: 8081 },
]);
const cluster = view(
  [server, client, appOther, foreignClient, foreignWeb, appWeb],
  [
    { name: 'app', labels: { team: 'a' } },
    { name: 'other', labels: { team: 'b' } },
    { name: 'empty', labels: { team: 'c' } },
  ],
);

const on = (yaml: string, target = server, network = NET1) => decide(policiesFrom(yaml), cluster, target, network);

describe('policy targets and isolation', () => {
  it('allows everything when no policy selects the interface', () => {
    const d = on('');
    expect(d.compiled.ingress.isolated).toBe(false);
    expect(d.in('192.0.2.1', 1)).toBe(true);
    expect(d.out('192.0.2.1', 1)).toBe(true);
  });

  it('ignores a policy without the policy-for annotation', () => {
    const d = on(mnp('p', 'app', undefined, 'podSelector: {}\ningress: []'));
    expect(d.compiled.policies).toEqual([]);
    expect(d.in('10.1.0.20', 80)).toBe(true);
  });

  it('applies only to the listed networks: bare names are in the policy namespace, ns/name elsewhere', () => {
    const denyAll = 'podSelector: {}\npolicyTypes: [Ingress]';
    expect(on(mnp('p', 'app', 'net1', denyAll)).in('10.1.0.20', 80)).toBe(false);
    expect(on(mnp('p', 'app', 'app/net1', denyAll)).in('10.1.0.20', 80)).toBe(false);
    expect(on(mnp('p', 'app', 'net2', denyAll)).in('10.1.0.20', 80)).toBe(true);
    expect(on(mnp('p', 'app', 'other/net1', denyAll)).in('10.1.0.20', 80)).toBe(true);
    expect(on(mnp('p', 'app', 'net1', denyAll), server, 'app/net2').in('10.2.0.20', 80)).toBe(true);
  });

  it('selects target pods with matchLabels and matchExpressions in the policy namespace only', () => {
    const spec = (sel: string) => `podSelector:\n${sel}\npolicyTypes: [Ingress]`;
    expect(on(mnp('p', 'app', 'net1', spec('  matchLabels: {app: server}'))).compiled.ingress.isolated).toBe(true);
    expect(on(mnp('p', 'app', 'net1', spec('  matchLabels: {app: client}'))).compiled.ingress.isolated).toBe(false);
    const expr = (op: string, values = '') => spec(`  matchExpressions: [{key: tier, operator: ${op}${values}}]`);
    expect(on(mnp('p', 'app', 'net1', expr('In', ', values: [back, mid]'))).compiled.ingress.isolated).toBe(true);
    expect(on(mnp('p', 'app', 'net1', expr('NotIn', ', values: [back]'))).compiled.ingress.isolated).toBe(false);
    expect(on(mnp('p', 'app', 'net1', expr('Exists'))).compiled.ingress.isolated).toBe(true);
    expect(on(mnp('p', 'app', 'net1', expr('DoesNotExist'))).compiled.ingress.isolated).toBe(false);
    expect(on(mnp('p', 'other', 'app/net1', spec('  matchLabels: {app: server}'))).compiled.ingress.isolated).toBe(
      false,
    );
  });

  it('defaults policyTypes to Ingress, plus Egress when the policy has egress rules', () => {
    const ingressOnly = on(mnp('p', 'app', 'net1', 'podSelector: {}\ningress: []'));
    expect([ingressOnly.compiled.ingress.isolated, ingressOnly.compiled.egress.isolated]).toEqual([true, false]);
    const both = on(mnp('p', 'app', 'net1', 'podSelector: {}\negress:\n- to: [{ipBlock: {cidr: 10.1.0.0/24}}]'));
    expect([both.compiled.ingress.isolated, both.compiled.egress.isolated]).toEqual([true, true]);
    expect(both.out('10.1.0.99', 1)).toBe(true);
    expect(both.out('10.9.0.1', 1)).toBe(false);
  });

  it('isolates a direction with no rules (deny all) and ignores rules of a direction not in policyTypes', () => {
    const egressOnly = on(mnp('p', 'app', 'net1', 'podSelector: {}\npolicyTypes: [Egress]\ningress: [{}]'));
    expect(egressOnly.in('10.1.0.20', 80)).toBe(true);
    expect(egressOnly.out('10.1.0.20', 80)).toBe(false);
    expect(egressOnly.compiled.ingress.isolated).toBe(false);
  });

  it('allows everything for an empty rule and unites rules and policies', () => {
    expect(on(mnp('p', 'app', 'net1', 'podSelector: {}\ningress: [{}]')).in('192.0.2.9', 9)).toBe(true);
    const stacked = on(
      mnp('a', 'app', 'net1', 'podSelector: {}\ningress:\n- from: [{podSelector: {matchLabels: {app: client}}}]') +
        mnp(
          'b',
          'app',
          'net1',
          'podSelector: {matchLabels: {app: server}}\ningress:\n- from: [{podSelector: {matchLabels: {app: other}}}]',
        ),
    );
    expect(stacked.compiled.policies).toEqual(['app/a', 'app/b']);
    expect(stacked.in('10.1.0.20', 80)).toBe(true);
    expect(stacked.in('10.1.0.21', 80)).toBe(true);
    expect(stacked.in('10.1.0.30', 80)).toBe(false);
  });
});

describe('peers', () => {
  const from = (peer: string) => on(mnp('p', 'app', 'net1', `podSelector: {}\ningress:\n- from: [${peer}]`));

  it('takes a bare podSelector peer from the policy namespace only', () => {
    const d = from('{podSelector: {matchLabels: {app: client}}}');
    expect(d.in('10.1.0.20', 80)).toBe(true);
    expect(d.in('10.1.0.30', 80)).toBe(false);
  });

  it('takes every pod of the matching namespaces for a namespaceSelector alone', () => {
    const d = from('{namespaceSelector: {matchLabels: {team: b}}}');
    expect(d.in('10.1.0.30', 80)).toBe(true);
    expect(d.in('10.1.0.31', 80)).toBe(true);
    expect(d.in('10.1.0.20', 80)).toBe(false);
    expect(from('{namespaceSelector: {}}').in('10.1.0.30', 80)).toBe(true);
    expect(from('{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}').in('10.1.0.31', 1)).toBe(
      true,
    );
  });

  it('intersects podSelector and namespaceSelector in one peer', () => {
    const d = from('{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: client}}}');
    expect(d.in('10.1.0.30', 80)).toBe(true);
    expect(d.in('10.1.0.31', 80)).toBe(false);
    expect(d.in('10.1.0.20', 80)).toBe(false);
  });

  it('still isolates when a namespaceSelector matches namespaces without pods', () => {
    const d = from('{namespaceSelector: {matchLabels: {team: c}}}');
    expect(d.compiled.ingress.isolated).toBe(true);
    expect(d.in('10.1.0.20', 80)).toBe(false);
    expect(from('{namespaceSelector: {matchLabels: {team: nobody}}}').in('10.1.0.30', 80)).toBe(false);
  });

  it('uses the peer addresses of the same network only, never other networks or the primary IP', () => {
    const d = from('{podSelector: {matchLabels: {app: client}}}');
    expect(d.in('fd01::20', 80)).toBe(true);
    expect(d.in('10.2.0.20', 80)).toBe(false);
    expect(d.in('10.244.0.20', 80)).toBe(false);
    const onNet2 = decide(
      policiesFrom(
        mnp('p', 'app', 'net2', 'podSelector: {}\ningress:\n- from: [{podSelector: {matchLabels: {app: client}}}]'),
      ),
      cluster,
      server,
      'app/net2',
    );
    expect(onNet2.in('10.2.0.20', 80)).toBe(true);
    expect(onNet2.in('10.1.0.20', 80)).toBe(false);
  });

  it('lets except narrow only its own ipBlock', () => {
    const oneRule = from('{ipBlock: {cidr: 10.9.0.0/16, except: [10.9.1.0/24]}}, {ipBlock: {cidr: 10.9.1.128/25}}');
    expect(oneRule.in('10.9.0.1', 80)).toBe(true);
    expect(oneRule.in('10.9.1.1', 80)).toBe(false);
    expect(oneRule.in('10.9.1.200', 80)).toBe(true);
    const twoRules = on(
      mnp(
        'p',
        'app',
        'net1',
        'podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 10.9.0.0/16, except: [10.9.1.0/24]}}]\n- from: [{ipBlock: {cidr: 10.9.1.0/24}}]\n  ports: [{port: 443}]',
      ),
    );
    expect(twoRules.in('10.9.1.7', 443)).toBe(true);
    expect(twoRules.in('10.9.1.7', 80)).toBe(false);
    expect(twoRules.in('10.9.2.7', 80)).toBe(true);
    const nested = from('{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.1.2.0/24]}}');
    expect([nested.in('10.1.2.3', 1), nested.in('10.1.3.3', 1), nested.in('10.2.0.1', 1)]).toEqual([
      false,
      false,
      true,
    ]);
  });

  it('handles IPv6 ipBlocks and pod addresses', () => {
    const d = from(
      '{ipBlock: {cidr: "fd00:9::/32", except: ["fd00:9:1::/48"]}}, {podSelector: {matchLabels: {app: client}}}',
    );
    expect(d.in('fd00:9:2::1', 80)).toBe(true);
    expect(d.in('fd00:9:1::1', 80)).toBe(false);
    expect(d.in('fd01::20', 80)).toBe(true);
    expect(d.in('fd01::21', 80)).toBe(false);
    expect(d.in('10.1.0.20', 80)).toBe(true);
  });
});

describe('ports', () => {
  const ports = (list: string, peers = '') =>
    on(mnp('p', 'app', 'net1', `podSelector: {}\ningress:\n- ports: [${list}]${peers ? `\n  from: [${peers}]` : ''}`));

  it('matches protocol and port, TCP by default, UDP and SCTP explicitly', () => {
    const d = ports('{port: 80}, {protocol: UDP, port: 53}, {protocol: SCTP, port: 9000}');
    expect([d.in('192.0.2.1', 80, 6), d.in('192.0.2.1', 80, 17)]).toEqual([true, false]);
    expect([d.in('192.0.2.1', 53, 17), d.in('192.0.2.1', 53, 6)]).toEqual([true, false]);
    expect([d.in('192.0.2.1', 9000, 132), d.in('192.0.2.1', 9001, 132)]).toEqual([true, false]);
    expect(d.in('192.0.2.1', undefined, 1)).toBe(false);
  });

  it('matches port ranges with endPort and protocol-only ports', () => {
    const d = ports('{port: 1000, endPort: 1999}, {protocol: UDP}');
    expect([999, 1000, 1500, 1999, 2000].map((p) => d.in('192.0.2.1', p))).toEqual([false, true, true, true, false]);
    expect([d.in('192.0.2.1', 1, 17), d.in('192.0.2.1', 65535, 17)]).toEqual([true, true]);
  });

  it('requires ports AND peers of the same rule', () => {
    const d = ports('{port: 80}', '{podSelector: {matchLabels: {app: client}}}');
    expect(d.in('10.1.0.20', 80)).toBe(true);
    expect(d.in('10.1.0.20', 81)).toBe(false);
    expect(d.in('10.1.0.21', 80)).toBe(false);
  });

  it('resolves ingress named ports on the target pod; an unknown name matches nothing', () => {
    const d = ports('{port: http}, {protocol: UDP, port: dns}');
    expect([d.in('192.0.2.1', 8080), d.in('192.0.2.1', 80), d.in('192.0.2.1', 5353, 17)]).toEqual([true, false, true]);
    const unknown = ports('{port: metrics}');
    expect(unknown.compiled.ingress.isolated).toBe(true);
    expect(unknown.in('192.0.2.1', 8080)).toBe(false);
  });

  it('resolves egress named ports on each destination pod', () => {
    const d = on(
      mnp(
        'p',
        'app',
        'net1',
        'podSelector: {}\negress:\n- to: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {matchLabels: {team: b}}}]\n  ports: [{port: http}, {port: 22}]',
      ),
    );
    expect(d.out('10.1.0.22', 8081)).toBe(true);
    expect(d.out('10.1.0.22', 9090)).toBe(false);
    expect(d.out('10.1.0.31', 9090)).toBe(true);
    expect(d.out('10.1.0.31', 8081)).toBe(false);
    expect(d.out('10.1.0.30', 22)).toBe(true);
    expect(d.out('10.1.0.30', 9090)).toBe(false);
    const anyPeer = on(mnp('p', 'app', 'net1', 'podSelector: {}\negress:\n- ports: [{port: http}]'));
    expect([anyPeer.out('10.1.0.31', 9090), anyPeer.out('10.1.0.22', 8081), anyPeer.out('192.0.2.1', 8081)]).toEqual([
      true,
      true,
      false,
    ]);
  });
});

describe('rule groups', () => {
  it('shares one bit between rules with the same ports and rejects more groups than the program holds', () => {
    const same = on(
      mnp(
        'p',
        'app',
        'net1',
        'podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 10.9.0.0/24}}]\n  ports: [{port: 80}]\n- from: [{ipBlock: {cidr: 10.8.0.0/24}}]\n  ports: [{port: 80}]',
      ),
    );
    expect(same.compiled.ingress.groups).toHaveLength(1);
    expect(same.in('10.8.0.1', 80)).toBe(true);
    const many = Array.from({ length: MAX_GROUPS + 1 }, (_, i) => `- ports: [{port: ${i + 1}}]`).join('\n');
    expect(() => on(mnp('p', 'app', 'net1', `podSelector: {}\ningress:\n${many}`))).toThrow(/more than the 128/);
  });
});
