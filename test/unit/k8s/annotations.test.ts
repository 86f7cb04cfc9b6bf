import { describe, expect, it } from 'vitest';
import { parseDefaultNetworkAnnotation, parseNetworksAnnotation } from '../../../src/k8s/annotations.ts';
import { failure } from '../../helpers/failure.ts';

const ctx = { pod: 'team-a/web-0' };
const parse = (value: unknown) =>
  parseNetworksAnnotation(typeof value === 'string' ? value : JSON.stringify(value), 'team-a', ctx);
const parseFails = (value: unknown) => failure(() => parse(value));

describe('networks annotation, comma form', () => {
  it("reads name, ns/name and ns/name@ifname; the namespace defaults to the pod's", () => {
    expect(parse(' macvlan-conf , other/sriov@fast0,bridge@net5 ')).toEqual([
      { name: 'macvlan-conf', namespace: 'team-a' },
      { name: 'sriov', namespace: 'other', interface: 'fast0' },
      { name: 'bridge', namespace: 'team-a', interface: 'net5' },
    ]);
  });

  it('returns no selections for an empty value', () => {
    expect(parse('')).toEqual([]);
    expect(parse('   ')).toEqual([]);
  });

  it('rejects names that are not DNS-1123 labels, naming the pod, the annotation and the element', () => {
    const err = parseFails('good,Bad_Name');
    expect(err.code).toBe(7);
    expect(err.message).toContain('pod team-a/web-0');
    expect(err.message).toContain('k8s.v1.cni.cncf.io/networks');
    expect(err.message).toContain('element 1');
    expect(err.message).toContain('"name"');
    expect(parseFails('Kube/net').message).toContain('"namespace"');
    expect(parseFails('a/b/c').message).toContain('element 0');
    expect(parseFails('a@b@c').message).toContain('element 0');
    expect(parseFails('a,,b').message).toContain('element 1');
  });

  it('checks the requested interface name', () => {
    expect(parseFails('net@averyveryverylongname').message).toContain('at most 15 bytes');
    expect(parseFails('net@..').message).toContain('"interface"');
    expect(parseFails('net@a:b').message).toContain('"interface"');
    expect(parseFails('net@').message).toContain('"interface"');
  });
});

describe('networks annotation, JSON form', () => {
  it('reads every NetworkSelectionElement field', () => {
    const [el] = parse([
      {
        name: 'macvlan-conf',
        namespace: 'net',
        ips: ['10.1.1.5/24', 'fd00::5'],
        mac: '02:11:22:33:44:55',
        interface: 'data0',
        'default-route': ['10.1.1.1'],
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'udp', hostIP: '192.168.0.1' },
          { hostPort: 1, containerPort: 65535 },
        ],
        bandwidth: { ingressRate: 1000, ingressBurst: 2000, egressRate: 3000 },
        'cni-args': { mode: 'fast' },
        'infiniband-guid': 'c2:11:22:33:44:55:66:77',
        deviceID: '0000:04:00.5',
        'example.com/extra': { anything: true },
      },
    ]);
    expect(el).toEqual({
      name: 'macvlan-conf',
      namespace: 'net',
      interface: 'data0',
      ips: ['10.1.1.5/24', 'fd00::5'],
      mac: '02:11:22:33:44:55',
      'infiniband-guid': 'c2:11:22:33:44:55:66:77',
      'default-route': ['10.1.1.1'],
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: 'UDP', hostIP: '192.168.0.1' },
        { hostPort: 1, containerPort: 65535, protocol: 'TCP' },
      ],
      bandwidth: { ingressRate: 1000, ingressBurst: 2000, egressRate: 3000 },
      'cni-args': { mode: 'fast' },
      deviceID: '0000:04:00.5',
    });
  });

  it('maps the deprecated interfaceRequest to interface', () => {
    expect(parse([{ name: 'a', interfaceRequest: 'eth9' }])[0]?.interface).toBe('eth9');
    expect(parseFails([{ name: 'a', interface: 'x', interfaceRequest: 'y' }]).message).toContain('interfaceRequest');
  });

  it('rejects unknown keys without a dot (NPWG 4.1.2.1)', () => {
    const err = parseFails([{ name: 'a' }, { name: 'b', foo: 1 }]);
    expect(err.message).toContain('element 1');
    expect(err.message).toContain('"foo" is not a known key');
    expect(err.message).toContain('reverse-DNS');
  });

  it('names the field and the value of a type error', () => {
    const err = parseFails([{ name: 'a', ips: ['10.0.0.1', 7] }]);
    expect(err.message).toContain('element 0');
    expect(err.message).toContain('"ips[1]" must be a string (got 7)');
    expect(parseFails([{ namespace: 'x' }]).message).toContain('"name" is required');
    expect(parseFails({ name: 'a' }).message).toContain('must be a list');
    expect(parseFails('[{"name":').message).toContain('not valid JSON');
  });

  it('takes IPs with a prefix and MACs in dash form', () => {
    expect(parse([{ name: 'a', ips: ['fd00::1/128', '10.0.0.1/32'] }])[0]?.ips).toHaveLength(2);
    expect(parse([{ name: 'a', mac: '02-11-22-33-44-55' }])[0]?.mac).toBe('02-11-22-33-44-55');
  });

  // One bad field of an element each; the message names the field and what is wrong with it.
  it.each<{ what: string; element: Record<string, unknown>; says: string }>([
    {
      what: 'an IP that is not one',
      element: { ips: ['10.1.1'] },
      says: '"ips[0]" must be an IP address or CIDR (got "10.1.1")',
    },
    { what: 'an IPv4 prefix over 32', element: { ips: ['10.1.1.1/33'] }, says: '"ips[0]"' },
    { what: 'an IPv6 prefix over 128', element: { ips: ['fd00::1/129'] }, says: '"ips[0]"' },
    { what: 'a 5-byte MAC', element: { mac: '02:11:22:33:44' }, says: '"mac"' },
    { what: 'an 8-byte MAC', element: { mac: '02:11:22:33:44:55:66:77' }, says: '6-byte' },
    {
      what: 'a 6-byte InfiniBand GUID',
      element: { 'infiniband-guid': '02:11:22:33:44:55' },
      says: '"infiniband-guid"',
    },
    {
      what: 'host port 0',
      element: { portMappings: [{ hostPort: 0, containerPort: 80 }] },
      says: '"portMappings[0].hostPort" must be >= 1 (got 0)',
    },
    {
      what: 'container port 65536',
      element: { portMappings: [{ hostPort: 80, containerPort: 65536 }] },
      says: '"portMappings[0].containerPort" must be <= 65535',
    },
    {
      what: 'an ICMP port mapping',
      element: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'ICMP' }] },
      says: 'TCP, UDP or SCTP',
    },
    {
      what: 'a host IP that is not one',
      element: { portMappings: [{ hostPort: 80, containerPort: 80, hostIP: 'x' }] },
      says: '"portMappings[0].hostIP"',
    },
    { what: 'a zero rate', element: { bandwidth: { ingressRate: 0 } }, says: '"bandwidth.ingressRate" must be > 0' },
    {
      what: 'a burst without its rate',
      element: { bandwidth: { egressBurst: 10 } },
      says: '"bandwidth.egressBurst" needs "bandwidth.egressRate"',
    },
  ])('rejects $what', ({ element, says }) => {
    expect(parseFails([{ name: 'a', ...element }]).message).toContain(says);
  });

  it('allows default-route on one element only, one gateway per family', () => {
    expect(parse([{ name: 'a', 'default-route': ['10.0.0.1', 'fd00::1'] }])[0]?.['default-route']).toEqual([
      '10.0.0.1',
      'fd00::1',
    ]);
    expect(parse([{ name: 'a', 'default-route': [] }])[0]?.['default-route']).toEqual([]);
    const twice = parseFails([
      { name: 'a', 'default-route': ['10.0.0.1'] },
      { name: 'b', 'default-route': ['10.0.1.1'] },
    ]);
    expect(twice.message).toContain('element 1');
    expect(twice.message).toContain('one element only');
    expect(parseFails([{ name: 'a', 'default-route': ['10.0.0.1', '10.0.0.2'] }]).message).toContain('ECMP');
    expect(parseFails([{ name: 'a', 'default-route': ['10.0.0.0/24'] }]).message).toContain('"default-route[0]"');
  });

  it('rejects ipam-claim-reference together with ips', () => {
    expect(parse([{ name: 'a', 'ipam-claim-reference': 'claim-1' }])[0]?.['ipam-claim-reference']).toBe('claim-1');
    expect(parseFails([{ name: 'a', ips: ['10.0.0.1'], 'ipam-claim-reference': 'c' }]).message).toContain(
      'ipam-claim-reference',
    );
  });

  it('rejects the same interface requested twice', () => {
    expect(parseFails('a@net1,b@net1').message).toContain('already requested by element 0');
  });

  it('says "pod in namespace" when the pod name is not known', () => {
    expect(failure(() => parseNetworksAnnotation('Bad', 'team-a')).message).toContain('pod in namespace team-a');
  });
});

describe('default-network annotation', () => {
  it('takes exactly one network, in multusNamespace unless named', () => {
    expect(parseDefaultNetworkAnnotation('calico', 'kube-system')).toEqual({
      name: 'calico',
      namespace: 'kube-system',
    });
    expect(parseDefaultNetworkAnnotation('[{"name":"calico","namespace":"net"}]', 'kube-system', ctx)).toEqual({
      name: 'calico',
      namespace: 'net',
    });
    const err = failure(() => parseDefaultNetworkAnnotation('a,b', 'kube-system', ctx));
    expect(err.code).toBe(7);
    expect(err.message).toContain('v1.multus-cni.io/default-network');
    expect(err.message).toContain('exactly one');
    expect(failure(() => parseDefaultNetworkAnnotation('', 'kube-system')).message).toContain('exactly one');
  });
});
