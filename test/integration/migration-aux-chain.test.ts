import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANN_STATUS, braidUnavailable, expectOk, useBraidBed, type BraidBed } from '../helpers/braid-fixture.ts';

// Issue 11 item 6: Multus' auxiliaryCNIChainName (v4.2.1+): after every other network, a
// `passthru` conflist of that name runs on the cluster interface with the plugins of
// `<dir of clusterNetwork>/<name>/*.conf` (here Debian's tuning setting the MTU); DEL runs it
// first. `passthru` (which Multus' installer ships) is a spy here: Debian has none.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('auxiliaryCNIChainName', () => {
  let bed: BraidBed;
  useBraidBed((b) => {
    bed = b;
  });

  it('runs the chain on the cluster interface after the cluster network, and DELs it with the pod', async () => {
    const passthru = bed.spy('passthru');
    mkdirSync(join(bed.confDir, 'aux-chain'));
    writeFileSync(join(bed.confDir, 'aux-chain', '10-tuning.conf'), JSON.stringify({ type: 'tuning', mtu: 1400 }));
    const conf = bed.conf({ auxiliaryCNIChainName: 'aux-chain' });
    bed.writePod({});

    expectOk(await bed.run('ADD', { conf }));

    expect((await bed.pod.links()).find((l) => l.ifname === 'eth0')?.mtu).toBe(1400);
    const add = passthru.callsOf('ADD');
    expect(add).toHaveLength(1);
    expect(add[0]!.env.CNI_IFNAME).toBe('eth0');
    expect(add[0]!.config).toMatchObject({ name: 'aux-chain', type: 'passthru' });
    const status = (await bed.networkStatus())!;
    expect(
      status.map((s) => s.interface),
      'the chain has no network-status entry of its own',
    ).toEqual(['eth0']);
    expect(Object.keys((await bed.podAnnotations())!)).toContain(ANN_STATUS);

    expectOk(await bed.run('DEL', { conf }));
    expect(passthru.callsOf('DEL')).toHaveLength(1);
    await bed.expectNothingLeft();
  });

  it('without a clusterNetwork path, goes on without the chain (as Multus can only use a path)', async () => {
    const passthru = bed.spy('passthru');
    const { clusterNetwork: _c, ...base } = bed.conf({ auxiliaryCNIChainName: 'aux-chain', clusterNetwork: 'cluster' });
    expectOk(await bed.run('ADD', { conf: { ...base, clusterNetwork: 'cluster' } }));
    expect(passthru.callsOf('ADD')).toEqual([]);
    expectOk(await bed.run('DEL', { conf: { ...base, clusterNetwork: 'cluster' } }));
    await bed.expectNothingLeft();
  });
});
