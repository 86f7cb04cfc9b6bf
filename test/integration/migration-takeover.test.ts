import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { closeAllKubeBeds, macvlanConf, podInterfaces, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { multusAdd, multusFiles, type MultusDelegate } from '../helpers/multus-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 11 item 1: a node that ran Multus (v4 thin: bridge cluster network, a macvlan NAD from
// the API) switches to braid with the same delegates and API; braid, with no record of the pod,
// DELs, CHECKs and GCs it from what Multus left (libcni's cache and Multus' own file), or from the
// API, with nothing left. The Multus side is written from the documented formats.

const unavailable = braidUnavailable();
const VALID = 'cni.dev/valid-attachments';

describe.skipIf(unavailable !== undefined)('taking over the pods Multus set up', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let multusDir: string;
  let conf: Record<string, unknown>;
  let macvlan: string;

  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
    multusDir = join(bed.root, 'multus');
    conf = kube.conf(bed.conf({ multusCniDir: multusDir }));
    macvlan = JSON.stringify(macvlanConf('mv', await bed.nodeVeth(), '10.10.1.0/24', bed.ipamDir));
    kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'mv' } });
    kube.api.setNad('default', 'mv', macvlan);
  });
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const delegates = (): MultusDelegate[] => [
    { display: 'cluster', bytes: readFileSync(bed.clusterFile, 'utf8'), ifname: 'eth0', master: true },
    { display: 'default/mv', bytes: macvlan, ifname: 'net1' },
  ];
  const multusPod = (containerId = bed.containerId, netns = bed.pod) => ({ containerId, netns, node: bed.node });

  async function expectMultusPodUp(): Promise<void> {
    const ifs = await podInterfaces(bed.pod);
    expect(ifs.get('eth0')?.ips).toEqual(['10.88.0.2']);
    expect(ifs.get('net1')?.ips).toEqual(['10.10.1.2']);
    expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'mv/10.10.1.2']);
  }

  async function expectAllGone(): Promise<void> {
    await bed.expectNothingLeft();
    expect(multusFiles(multusDir), "Multus' cache files left").toEqual([]);
  }

  describe.each([
    ['both caches', { libcni: true, multusFile: true }],
    ["libcni's cache alone", { libcni: true, multusFile: false }],
    ["Multus' own file alone", { libcni: false, multusFile: true }],
  ])('DEL from %s', (_what, caches) => {
    it.each([
      ['the NAD still in the API', true],
      ['the NAD deleted meanwhile', false],
    ])('with %s frees every interface and reservation', async (_nad, keepNad) => {
      await multusAdd(multusDir, multusPod(), delegates(), caches);
      await expectMultusPodUp();
      if (!keepNad) kube.api.deleteNad('default', 'mv');

      expectOk(await bed.run('DEL', { conf }));

      await expectAllGone();
    });
  });

  it("CHECKs the pod from libcni's cached results, and finds a missing interface", async () => {
    await multusAdd(multusDir, multusPod(), delegates());

    expectOk(await bed.run('CHECK', { conf }));

    await bed.pod.ip(['link', 'del', 'net1']);
    const r = await bed.run('CHECK', { conf });
    expect(r.code).not.toBe(0);
    expect(r.json?.msg, 'the failure names the attachment').toContain('net1');
    expectOk(await bed.run('DEL', { conf }));
    await expectAllGone();
  });

  describe('with no cache at all', () => {
    it('recomputes from the API (pod and NAD still there) and frees everything', async () => {
      await multusAdd(multusDir, multusPod(), delegates(), { libcni: false, multusFile: false });

      expectOk(await bed.run('DEL', { conf }));

      await expectAllGone();
    });

    it('with the NAD gone, frees the cluster network, reports the NAD and succeeds', async () => {
      await multusAdd(multusDir, multusPod(), delegates(), { libcni: false, multusFile: false });
      kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'mv,gone' } });
      kube.api.deleteNad('default', 'mv');

      const r = expectOk(await bed.run('DEL', { conf }));

      expect(r).toBeUndefined();
      expect(bed.leases(), 'the cluster network was freed; the macvlan reservation could not be').toEqual([
        'mv/10.10.1.2',
      ]);
      expect(await bed.linkNames()).not.toContain('eth0');
    });
  });

  it("GC: a pod the runtime no longer lists is deleted from Multus' caches; a listed one keeps everything", async () => {
    const other = await bed.newPod();
    const keptId = `${bed.containerId}-kept`;
    await multusAdd(multusDir, multusPod(), delegates());
    await multusAdd(multusDir, multusPod(keptId, other), delegates());
    expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'cluster/10.88.0.3', 'mv/10.10.1.2', 'mv/10.10.1.3']);

    expectOk(
      await bed.run('GC', {
        conf: { ...conf, cniVersion: '1.1.0', [VALID]: [{ containerID: keptId, ifname: 'eth0' }] },
      }),
    );

    expect(bed.leases()).toEqual(['cluster/10.88.0.3', 'mv/10.10.1.3']);
    expect(await bed.linkNames(bed.pod)).toEqual(['lo']);
    expect(await bed.linkNames(other)).toEqual(['eth0', 'lo', 'net1']);
    expect(multusFiles(multusDir)).toEqual([keptId, `results/cluster-${keptId}-eth0`, `results/mv-${keptId}-net1`]);
  });

  it("GC's valid list for a 1.1.0 delegate network includes Multus' attachments", async () => {
    const { file, spies } = bed.spyNetwork('spynet', ['spy-gc'], { cniVersion: '1.1.0' });
    const spyBytes = readFileSync(file, 'utf8');
    await multusAdd(multusDir, { ...multusPod(), cniPath: bed.spyDir }, [
      { display: 'spynet', bytes: spyBytes, ifname: 'eth0', master: true },
    ]);

    expectOk(
      await bed.run('GC', {
        conf: {
          ...conf,
          cniVersion: '1.1.0',
          clusterNetwork: file,
          [VALID]: [{ containerID: bed.containerId, ifname: 'eth0' }],
        },
      }),
    );

    const gc = spies[0]!.callsOf('GC');
    expect(gc).toHaveLength(1);
    expect(gc[0]!.config![VALID]).toEqual([{ containerID: bed.containerId, ifname: 'eth0' }]);
    expect(multusFiles(multusDir)).toHaveLength(2);
  });

  it("braid status lists Multus' pods until they are taken over", async () => {
    await multusAdd(multusDir, multusPod(), delegates());
    const confFile = join(bed.root, 'braid.conf');
    writeFileSync(confFile, JSON.stringify(conf));
    const status = () => spawnSync(braidBinary(), ['status', '--conf', confFile], { encoding: 'utf8' });

    const before = status();
    expect(before.status, before.stderr).toBe(0);
    expect(before.stdout).toMatch(
      new RegExp(
        `default/web\\s+${bed.containerId.slice(0, 12)}\\s+net1\\s+default/mv\\s+10\\.10\\.1\\.2/24\\s+multus`,
      ),
    );

    expectOk(await bed.run('DEL', { conf }));
    expect(status().stdout).toContain('no attachments');
  });

  it('braid validate prints what it accepts the way Multus does', () => {
    const confFile = join(bed.root, 'braid.conf');
    writeFileSync(confFile, JSON.stringify(conf));
    bed.writeNad('mv', macvlan);
    const r = spawnSync(
      braidBinary(),
      ['validate', '--conf', confFile, '-p', 'default/web', '-a', '[{"name":"mv","colour":"red"}]'],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('warning: annotation k8s.v1.cni.cncf.io/networks element 0 "colour": ignored');
  });

  it.each([
    [
      "a truncated libcni entry (Multus' file still names it)",
      (id: string) => writeFileSync(join(multusDir, 'results', `mv-${id}-net1`), '{"kind":"cniCacheV1","contain'),
    ],
    [
      "a garbage Multus file (libcni's entries still there)",
      (id: string) => writeFileSync(join(multusDir, id), 'not json'),
    ],
  ])('DEL with %s still frees everything and removes the broken file', async (_what, breakIt) => {
    await multusAdd(multusDir, multusPod(), delegates());
    breakIt(bed.containerId);

    const r = expectOk(await bed.run('DEL', { conf }));

    expect(r).toBeUndefined();
    await expectAllGone();
  });

  it('a Multus cache entry of another container whose ID starts the same is left alone by DEL', async () => {
    const other = await bed.newPod();
    await multusAdd(multusDir, multusPod(), delegates());
    await multusAdd(multusDir, multusPod(`${bed.containerId}0`, other), delegates());

    expectOk(await bed.run('DEL', { conf }));

    expect(multusFiles(multusDir)).toEqual([
      `${bed.containerId}0`,
      `results/cluster-${bed.containerId}0-eth0`,
      `results/mv-${bed.containerId}0-net1`,
    ]);
    expect(await bed.linkNames(other)).toEqual(['eth0', 'lo', 'net1']);
  });
});
