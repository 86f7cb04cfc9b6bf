import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import {
  bridgeConflist,
  closeAllKubeBeds,
  macvlanConf,
  podInterfaces,
  startKubeBed,
  type KubeBed,
} from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 3, resolution order, through the braid binary against the fake API server: a NAD's
// spec.config (conf and conflist) wins over everything; an empty spec.config means a file in
// confDir (.conflist before .conf, NPWG 3.4.1); clusterNetwork/defaultNetworks references resolve
// NAD in multusNamespace -> CNI name in confDir -> path. Real bridge and macvlan plugins.

const unavailable = braidUnavailable();
const NAD_PATH = '/apis/k8s.cni.cncf.io/v1/namespaces';

describe.skipIf(unavailable !== undefined)(
  'braid on the Kubernetes API: where network configurations come from',
  () => {
    let bed: BraidBed;
    let kube: KubeBed;
    let master: string;
    let conf: Record<string, unknown>;

    beforeEach(async () => {
      bed = await makeBraidBed();
      kube = await startKubeBed(bed.root, bed.node.path);
      master = await bed.nodeVeth();
      conf = kube.conf(bed.conf());
    });
    afterEach(async () => {
      await closeAllKubeBeds();
      await destroyAllNetns();
      cleanupTemps();
    });

    const mv = (name: string, subnet: string, extra: Record<string, unknown> = {}) =>
      macvlanConf(name, master, subnet, bed.ipamDir, extra);
    const nadGets = () =>
      kube.api.requests
        .filter((r) => r.method === 'GET' && r.path.startsWith(NAD_PATH))
        .map((r) => r.path.slice(NAD_PATH.length));
    const networkStatus = () =>
      JSON.parse(kube.api.pod('default', 'web')!.metadata.annotations!['k8s.v1.cni.cncf.io/network-status']!) as Record<
        string,
        any
      >[];

    async function addThenDel(c: Record<string, unknown> = conf) {
      expectOk(await bed.run('ADD', { conf: c }));
      const ifs = await podInterfaces(bed.pod);
      const leases = bed.leases();
      const status = networkStatus();
      expectOk(await bed.run('DEL', { conf: c }));
      await bed.expectNothingLeft();
      return { ifs, leases, status };
    }

    describe('a NAD from the API', () => {
      it('uses spec.config as a single-plugin conf, ahead of a NAD of the same name in nadDir', async () => {
        kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'mv-conf' } });
        kube.api.setNad('default', 'mv-conf', JSON.stringify(mv('mv-conf', '10.10.1.0/24')));
        bed.writeNad('mv-conf', mv('mv-conf', '10.10.9.0/24'));

        const { ifs, leases, status } = await addThenDel();

        expect(ifs.get('net1')).toMatchObject({ kind: 'macvlan', ips: ['10.10.1.2'] });
        expect(leases).toEqual(['cluster/10.88.0.2', 'mv-conf/10.10.1.2']);
        expect(status.map((s) => s.name)).toEqual(['cluster', 'default/mv-conf']);
        expect(nadGets()).toEqual(['/default/network-attachment-definitions/mv-conf']);
      });

      it('runs spec.config as a conflist, every plugin, with the NAD name injected when the list has none', async () => {
        kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'mv-list' } });
        const { name: _unnamed, cniVersion, ...plugin } = mv('unused', '10.10.2.0/24');
        kube.api.setNad(
          'default',
          'mv-list',
          JSON.stringify({ cniVersion, plugins: [plugin, { type: 'tuning', mtu: 1400 }] }),
        );

        expectOk(await bed.run('ADD', { conf }));
        const links = await bed.pod.links();
        expect(links.find((l) => l.ifname === 'net1')?.mtu, 'tuning (second plugin) set the MTU').toBe(1400);
        expect(bed.leases(), 'host-local keyed its reservation by the injected name').toContain('mv-list/10.10.2.2');
        expect(networkStatus()[1]).toMatchObject({ name: 'default/mv-list', interface: 'net1', ips: ['10.10.2.2'] });
        expectOk(await bed.run('DEL', { conf }));
        await bed.expectNothingLeft();
      });

      it('reads a NAD in another namespace when the annotation names it', async () => {
        kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'other/mv-other' } });
        kube.api.setNad('other', 'mv-other', JSON.stringify(mv('mv-other', '10.10.5.0/24')));

        const { ifs, status } = await addThenDel();

        expect(ifs.get('net1')?.ips).toEqual(['10.10.5.2']);
        expect(status[1]).toMatchObject({ name: 'other/mv-other', interface: 'net1' });
        expect(nadGets()).toEqual(['/other/network-attachment-definitions/mv-other']);
      });
    });

    describe('a NAD with an empty spec.config (NPWG 3.4.1)', () => {
      beforeEach(() => {
        kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'ondisk' } });
        kube.api.setNad('default', 'ondisk', undefined);
      });

      it('takes the .conflist in confDir with that name, then the .conf, else fails naming the NAD and confDir', async () => {
        const { name: _n, cniVersion, ...plugin } = mv('ondisk', '10.10.3.0/24');
        // The .conf sorts first by file name: the conflist must still win.
        const confFile = bed.writeConfFile(mv('ondisk', '10.10.4.0/24'), '05-ondisk.conf');
        const listFile = bed.writeConfFile({ cniVersion, name: 'ondisk', plugins: [plugin] }, '50-ondisk.conflist');

        expect((await addThenDel()).ifs.get('net1')?.ips, 'from the .conflist').toEqual(['10.10.3.2']);

        rmSync(listFile);
        expect((await addThenDel()).ifs.get('net1')?.ips, 'from the .conf').toEqual(['10.10.4.2']);

        rmSync(confFile);
        const err = expectCniError(await bed.run('ADD', { conf }), 7);
        expect(err.msg).toContain('default/ondisk');
        expect(err.msg).toContain(bed.confDir);
        await bed.expectNothingLeft();
      });
    });

    describe('clusterNetwork', () => {
      beforeEach(() => kube.api.setPod({ namespace: 'default', name: 'web' }));

      it('as a NAD name is read from multusNamespace', async () => {
        kube.api.setNad(
          'kube-system',
          'podnet',
          JSON.stringify(bridgeConflist('podnet', 'cni1', '10.89.0.0/24', '10.89.0.1', bed.ipamDir)),
        );

        const { ifs, leases, status } = await addThenDel(kube.conf(bed.conf({ clusterNetwork: 'podnet' })));

        expect(ifs.get('eth0')?.ips).toEqual(['10.89.0.2']);
        expect(leases).toEqual(['podnet/10.89.0.2']);
        expect(status).toEqual([
          expect.objectContaining({ name: 'kube-system/podnet', interface: 'eth0', default: true }),
        ]);
        const bridges = (await bed.node.links()).map((l) => l.ifname);
        expect(bridges).toContain('cni1');
        expect(bridges).not.toContain('cni0');
      });

      it('as a CNI network name is found in confDir once no NAD has that name', async () => {
        const { ifs, status } = await addThenDel(kube.conf(bed.conf({ clusterNetwork: 'cluster' })));

        expect(ifs.get('eth0')?.ips).toEqual(['10.88.0.2']);
        expect(status[0]).toMatchObject({ name: 'cluster', default: true });
        expect(nadGets()).toEqual(['/kube-system/network-attachment-definitions/cluster']);
      });

      it('as a file path is read from that file without asking for a NAD', async () => {
        const { ifs } = await addThenDel();

        expect(ifs.get('eth0')?.ips).toEqual(['10.88.0.2']);
        expect(nadGets()).toEqual([]);
      });
    });

    describe('defaultNetworks', () => {
      it('resolves a NAD name in multusNamespace, a CNI name in confDir and a path, in that order of entries', async () => {
        kube.api.setPod({ namespace: 'default', name: 'web' });
        kube.api.setNad('kube-system', 'dn-nad', JSON.stringify(mv('dn-nad', '10.20.1.0/24')));
        bed.writeConfFile(mv('dn-file', '10.20.2.0/24'), 'dn-file.conf');
        const elsewhere = join(bed.root, 'elsewhere');
        mkdirSync(elsewhere);
        const path = join(elsewhere, 'dn-path.conf');
        writeFileSync(path, JSON.stringify(mv('dn-path', '10.20.3.0/24')));

        const { ifs, status } = await addThenDel(kube.conf(bed.conf({ defaultNetworks: ['dn-nad', 'dn-file', path] })));

        expect([1, 2, 3].map((i) => ifs.get(`net${i}`)?.ips)).toEqual([['10.20.1.2'], ['10.20.2.2'], ['10.20.3.2']]);
        expect(status.map((s) => [s.name, s.interface])).toEqual([
          ['cluster', 'eth0'],
          ['kube-system/dn-nad', 'net1'],
          ['dn-file', 'net2'],
          ['dn-path', 'net3'],
        ]);
        expect(nadGets()).toEqual([
          '/kube-system/network-attachment-definitions/dn-nad',
          '/kube-system/network-attachment-definitions/dn-file',
        ]);
      });
    });
  },
);
