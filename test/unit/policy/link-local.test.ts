import { afterEach, describe, expect, it } from 'vitest';
import { attachmentsOf } from '../../../src/agent/trim.ts';
import { buildClusterView } from '../../../src/policy/cluster.ts';
import { eui64LinkLocal } from '../../../src/policy/link-local.ts';
import { makeTempDir, cleanupTemps } from '../../helpers/tmp.ts';
import { decide, mnp, policiesFrom, pod, view } from './fixtures.ts';

const NET = 'app/net1';

describe('IPv6 link-local peers', () => {
  afterEach(() => cleanupTemps());

  it('derives the kernel default (modified EUI-64) address from a MAC', () => {
    expect(eui64LinkLocal('52:54:00:12:34:56')).toBe('fe80::5054:ff:fe12:3456');
    expect(eui64LinkLocal('02:00:5E:10:00:01')).toBe('fe80::0:5eff:fe10:1');
    expect(eui64LinkLocal('00:11:22:33:44')).toBeUndefined();
    expect(eui64LinkLocal('not a mac')).toBeUndefined();
    expect(eui64LinkLocal('52:54:00:12:34:56:78')).toBeUndefined();
  });

  it("judges a peer's link-local address as that peer: selected pods pass, others stay denied", () => {
    const web = { ...pod('app', 'web', { app: 'web' }, { [NET]: ['fd01::20'] }) };
    web.attachments[0]!.mac = '52:54:00:00:00:20';
    const other = pod('app', 'other', { app: 'other' }, { [NET]: ['fd01::21'] });
    other.attachments[0]!.mac = '52:54:00:00:00:21';
    const db = pod('app', 'db', { app: 'db' }, { [NET]: ['fd01::10'] });
    const policies = policiesFrom(
      mnp(
        'p',
        'app',
        'net1',
        'podSelector: {matchLabels: {app: db}}\ningress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]',
      ),
    );
    const d = decide(policies, view([web, other, db]), db, NET);
    expect(d.in('fe80::5054:ff:fe00:20', 5432)).toBe(true);
    expect(d.in('fe80::5054:ff:fe00:20', 22)).toBe(false);
    expect(d.in('fe80::5054:ff:fe00:21', 5432)).toBe(false);
    // A link-local address no MAC explains (stable privacy, set by hand) is nobody's.
    expect(d.in('fe80::1234', 5432)).toBe(false);
  });

  it('reads the MAC from network-status in the pod store and in the agent cache', () => {
    const status = JSON.stringify([{ name: NET, interface: 'net1', ips: ['fd01::20'], mac: '52:54:00:00:00:20' }]);
    expect(attachmentsOf(status)).toEqual([
      { network: NET, ifname: 'net1', ips: ['fd01::20'], mac: '52:54:00:00:00:20' },
    ]);
    const v = buildClusterView(
      makeTempDir('braid-t-ll-pods'),
      makeTempDir('braid-t-ll-cache'),
      [
        {
          pod: { namespace: 'app', name: 'web' },
          network: NET,
          ifname: 'net1',
          ips: ['fd01::20'],
          mac: '52:54:00:00:00:20',
        },
      ],
      [],
    );
    expect(v.pods[0]!.attachments[0]!.mac).toBe('52:54:00:00:00:20');
  });
});
