import { describe, expect, it } from 'vitest';
import { defaultRouteRequest } from '../../../src/multiplex/default-route.ts';

describe('default-route request', () => {
  it('is absent when no attachment asks', () => {
    expect(defaultRouteRequest([{ network: 'a', ifname: 'eth0' }])).toBeUndefined();
  });

  it('splits the gateways by family', () => {
    const owner = { network: 'ns/b', ifname: 'net1', defaultRoute: ['10.1.0.1', 'fd00::1'] };
    const req = defaultRouteRequest([{ network: 'a', ifname: 'eth0' }, owner]);
    expect(req).toEqual({ v4: { owner, gw: '10.1.0.1' }, v6: { owner, gw: 'fd00::1' } });
  });

  it('refuses two gateways of one family (no ECMP), also from two owners', () => {
    expect(() =>
      defaultRouteRequest([{ network: 'ns/b', ifname: 'net1', defaultRoute: ['10.1.0.1', '10.1.0.2'] }]),
    ).toThrow(/ECMP/);
    expect(() =>
      defaultRouteRequest([
        { network: 'ns/a', ifname: 'net1', defaultRoute: ['10.1.0.1'] },
        { network: 'ns/b', ifname: 'net2', defaultRoute: ['10.2.0.1'] },
      ]),
    ).toThrow(/ns\/a, ns\/b/);
  });
});

describe('default-route on two networks, one family each (dual-stack, as Multus takes it)', () => {
  it('gives each family its own owner', () => {
    const a = { network: 'ns/a', ifname: 'net1', defaultRoute: ['10.1.0.1'] };
    const b = { network: 'ns/b', ifname: 'net2', defaultRoute: ['fd00::1'] };
    expect(defaultRouteRequest([a, b])).toEqual({ v4: { owner: a, gw: '10.1.0.1' }, v6: { owner: b, gw: 'fd00::1' } });
  });
});

describe('default-route with an empty gateway list', () => {
  it("uses the attachment's own gateways, one per family", () => {
    const owner = {
      network: 'ns/b',
      ifname: 'net1',
      defaultRoute: [],
      result: {
        cniVersion: '1.0.0',
        ips: [
          { address: '10.1.0.5/24', gateway: '10.1.0.1' },
          { address: 'fd00::5/64', gateway: 'fd00::1' },
        ],
      },
    };
    expect(defaultRouteRequest([owner])).toMatchObject({ v4: { gw: '10.1.0.1' }, v6: { gw: 'fd00::1' } });
  });
});
