import { describe, expect, it } from 'vitest';
import { parsePolicyDocuments, parsePolicyFor } from '../../../src/policy/parse.ts';
import { matchesSelector } from '../../../src/policy/selector.ts';
import { mnp } from './fixtures.ts';

const parse = (yaml: string) => parsePolicyDocuments(yaml, 'p.yaml');

describe('parsing MultiNetworkPolicy documents', () => {
  it('reads a full policy with defaults applied', () => {
    const [p] = parse(
      mnp(
        'web',
        'app',
        'net1, other/net2',
        `
podSelector: {matchLabels: {app: web}}
ingress:
- from:
  - podSelector: {matchExpressions: [{key: tier, operator: In, values: [front]}]}
    namespaceSelector: {}
  - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
  ports:
  - port: 80
  - protocol: UDP
  - port: 1000
    endPort: 2000
  - port: http
egress:
- {}`,
      ),
    ).policies;
    expect(p).toMatchObject({
      namespace: 'app',
      name: 'web',
      policyFor: ['app/net1', 'other/net2'],
      policyTypes: ['Ingress', 'Egress'],
      egress: [{ ports: [], peers: [] }],
    });
    expect(p!.ingress[0]!.ports).toEqual([
      { protocol: 'TCP', port: 80 },
      { protocol: 'UDP' },
      { protocol: 'TCP', port: 1000, endPort: 2000 },
      { protocol: 'TCP', port: 'http' },
    ]);
    expect(p!.ingress[0]!.peers[1]).toEqual({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } });
  });

  it('reads namespaces and lists documents of other kinds as skipped', () => {
    const docs = parse(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n',
    );
    expect(docs.namespaces).toEqual([{ name: 'app', labels: { team: 'a' } }]);
    expect(docs.skipped).toEqual(['ConfigMap x (p.yaml (document 2))']);
  });

  it.each([
    ['podSelector: {}\ningress: [{from: [{}]}]', /spec.ingress\[0\].from\[0\]: needs podSelector/],
    ['podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]', /cannot be combined/],
    [
      'podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]',
      /except\[0\]: "10.1.0.0\/24" must be a strict subset/,
    ],
    ['podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0}}]}]', /cidr: "10.0.0.0" is not a CIDR/],
    ['podSelector: {}\ningress: [{ports: [{port: 0}]}]', /ports\[0\].port: must be a port number/],
    ['podSelector: {}\ningress: [{ports: [{port: 90, endPort: 80}]}]', /endPort: 80 is below port 90/],
    ['podSelector: {}\ningress: [{ports: [{port: http, endPort: 80}]}]', /endPort: needs a numeric port/],
    ['podSelector: {}\ningress: [{ports: [{protocol: ICMP}]}]', /must be TCP, UDP or SCTP/],
    ['podSelector: {matchExpressions: [{key: a, operator: In}]}', /values: must not be empty for In/],
    ['podSelector: {matchLabels: {a: 1}}', /matchLabels.a: must be a string/],
    ['ingress: []', /spec.podSelector: is required/],
    ['podSelector: {}\npolicyTypes: [Inbound]', /"Inbound" is not Ingress or Egress/],
  ])('rejects %s', (spec, message) => {
    expect(() => parse(mnp('bad', 'app', 'net1', spec))).toThrow(message);
  });

  it('names the file and policy in errors', () => {
    expect(() => parse(mnp('bad', 'app', 'net1', 'podSelector: {}\ningress: [{ports: [{port: 0}]}]'))).toThrow(
      /^p.yaml: MultiNetworkPolicy app\/bad: spec.ingress\[0\]/,
    );
    expect(() => parse(mnp('bad', 'app', 'a/b/c', 'podSelector: {}'))).toThrow(/policy-for.*"a\/b\/c"/);
  });

  it('splits policy-for into namespace/name', () => {
    expect(parsePolicyFor(' net1 ,ns2/net3,', 'app')).toEqual(['app/net1', 'ns2/net3']);
  });
});

describe('label selectors', () => {
  const sel = (
    matchExpressions: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }[],
    matchLabels = {},
  ) => ({
    matchLabels,
    matchExpressions,
  });
  it('follows Kubernetes semantics', () => {
    expect(matchesSelector(sel([]), {})).toBe(true);
    expect(matchesSelector(sel([], { a: '1' }), { a: '1', b: '2' })).toBe(true);
    expect(matchesSelector(sel([], { a: '1' }), { a: '2' })).toBe(false);
    expect(matchesSelector(sel([{ key: 'a', operator: 'NotIn', values: ['1'] }]), {})).toBe(true);
    expect(matchesSelector(sel([{ key: 'a', operator: 'In', values: ['1'] }]), {})).toBe(false);
    expect(matchesSelector(sel([{ key: 'a', operator: 'Exists', values: [] }], { b: '2' }), { a: 'x', b: '2' })).toBe(
      true,
    );
    expect(matchesSelector(sel([{ key: 'a', operator: 'DoesNotExist', values: [] }]), { a: '' })).toBe(false);
  });
});
