import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { bridgeConflist, closeAllKubeBeds, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 11 item 3: STATUS (CNI 1.1, which containerd 2.x calls on kubelet's status poll) resolves
// a NAD-named clusterNetwork through the API, as ADD does, instead of answering 50.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('STATUS with a NAD-named cluster network', () => {
  let bed: BraidBed;
  let kube: KubeBed;

  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
  });
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const conf = () => kube.conf(bed.conf({ cniVersion: '1.1.0', clusterNetwork: 'podnet' }));

  it('answers 0 on a CNI 1.1 conf when the API has the NAD', async () => {
    kube.api.setNad(
      'kube-system',
      'podnet',
      JSON.stringify(bridgeConflist('podnet', 'cni1', '10.89.0.0/24', '10.89.0.1', bed.ipamDir)),
    );

    expectOk(await bed.run('STATUS', { conf: conf() }));

    expect(kube.api.requests.some((r) => r.path.endsWith('/kube-system/network-attachment-definitions/podnet'))).toBe(
      true,
    );
  });

  it('answers 50 naming the NAD when neither the API nor a local source has it', async () => {
    const err = expectCniError(await bed.run('STATUS', { conf: conf() }), 50);

    expect(err.msg).toContain('kube-system/podnet');
  });
});
