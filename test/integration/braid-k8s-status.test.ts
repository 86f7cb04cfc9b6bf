import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_STATUS,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import {
  closeAllKubeBeds,
  countByKind,
  macvlanConf,
  podInterfaces,
  requestKind,
  startKubeBed,
  type KubeBed,
} from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 3, what braid writes back, through the braid binary against the fake API server:
// network-status through pods/status matching what the kernel shows, a concurrent writer's
// annotation kept, 409 retried, a failed write rolled back, AddedInterface events, and a rotated
// service-account token picked up between two ADDs.

const unavailable = braidUnavailable();
const DNS = { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'] };

describe.skipIf(unavailable !== undefined)('braid on the Kubernetes API: network-status, events, credentials', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let master: string;
  let conf: Record<string, unknown>;

  async function setUp(tokens?: string[]): Promise<void> {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path, tokens ? { tokens } : {});
    master = await bed.nodeVeth();
    conf = kube.conf(bed.conf());
    kube.api.setNad(
      'default',
      'mv',
      JSON.stringify(macvlanConf('mv', master, '10.10.1.0/24', bed.ipamDir, { dns: DNS })),
    );
  }
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const annotations = (name = 'web') => kube.api.pod('default', name)!.metadata.annotations ?? {};
  const networkStatus = (name = 'web') => JSON.parse(annotations(name)[ANN_STATUS]!) as Record<string, any>[];

  describe('network-status', () => {
    beforeEach(async () => {
      await setUp();
      kube.api.setPod({ namespace: 'default', name: 'web', uid: 'uid-web', annotations: { [ANN_NETWORKS]: 'mv' } });
    });

    it('is written with one merge patch on pods/status and matches the pod as ip shows it, field by field', async () => {
      expectOk(await bed.run('ADD', { conf }));

      const patches = kube.api.requests.filter((r) => requestKind(r) === 'status PATCH');
      expect(patches).toHaveLength(1);
      expect(patches[0]).toMatchObject({
        method: 'PATCH',
        path: '/api/v1/namespaces/default/pods/web/status',
        contentType: 'application/merge-patch+json',
      });
      expect(patches[0]!.body, 'only the one annotation, no resourceVersion').toEqual({
        metadata: { annotations: { [ANN_STATUS]: expect.any(String) } },
      });

      const status = networkStatus();
      const ifs = await podInterfaces(bed.pod);
      expect(status.map((s) => s.interface).sort()).toEqual([...ifs.keys()].sort());
      expect(status.map((s) => s.name)).toEqual(['cluster', 'default/mv']);
      for (const entry of status) {
        const seen = ifs.get(entry.interface)!;
        expect(entry.mac, `${entry.interface} mac`).toBe(seen.mac);
        expect(entry.ips, `${entry.interface} ips`).toEqual(seen.ips);
      }
      expect(status.filter((s) => s.default === true).map((s) => s.interface)).toEqual(['eth0']);
      expect(status.find((s) => s.interface === 'net1')).toMatchObject({ default: false, dns: DNS });
      expect(status.find((s) => s.interface === 'eth0')!.dns).toEqual({});

      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });

    it('keeps an annotation another writer changed between braid reading the pod and writing the status', async () => {
      kube.api.annotatePod('default', 'web', { 'example.com/owner': 'v1' });
      const add = bed.run('ADD', { conf });
      let patchedBeforeUs: boolean | undefined;
      for (let i = 0; i < 2000 && patchedBeforeUs === undefined; i++) {
        if (kube.api.requests.some((r) => requestKind(r) === 'pod GET')) {
          patchedBeforeUs = kube.api.requests.some((r) => requestKind(r) === 'status PATCH');
          kube.api.annotatePod('default', 'web', { 'example.com/owner': 'v2', 'example.com/extra': 'x' });
        } else {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      expectOk(await add);

      expect(patchedBeforeUs, 'the other writer acted after the GET and before the status write').toBe(false);
      expect(annotations()).toMatchObject({
        [ANN_NETWORKS]: 'mv',
        'example.com/owner': 'v2',
        'example.com/extra': 'x',
      });
      expect(networkStatus()).toHaveLength(2);
      expectOk(await bed.run('DEL', { conf }));
    });

    it('retries the status write after a 409 Conflict', async () => {
      kube.api.inject({ kind: 'status', code: 409 }, { method: 'PATCH', path: /\/status$/ });

      expectOk(await bed.run('ADD', { conf }));

      expect(countByKind(kube.api.requests)['status PATCH']).toBe(2);
      expect(networkStatus().map((s) => s.interface)).toEqual(['eth0', 'net1']);
      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });

    it('rolls the whole ADD back when the status write keeps failing', async () => {
      kube.api.inject({ kind: 'status', code: 409 }, { method: 'PATCH', path: /\/status$/ }, 10);

      const err = expectCniError(await bed.run('ADD', { conf }), 11);

      expect(err.msg).toContain('/pods/web/status');
      expect(annotations()[ANN_STATUS]).toBeUndefined();
      await bed.expectNothingLeft();
    });

    it('records one AddedInterface event per interface', async () => {
      expectOk(await bed.run('ADD', { conf }));

      expect(kube.api.events.map((e) => [e.type, e.reason, e.message])).toEqual([
        ['Normal', 'AddedInterface', 'Add eth0 [10.88.0.2] from cluster'],
        ['Normal', 'AddedInterface', 'Add net1 [10.10.1.2] from default/mv'],
      ]);
      for (const e of kube.api.events) {
        expect(e.metadata.namespace).toBe('default');
        expect(e.involvedObject).toMatchObject({ kind: 'Pod', namespace: 'default', name: 'web' });
      }
      expectOk(await bed.run('DEL', { conf }));
    });
  });

  describe('token rotation', () => {
    it('reads the tokenFile again: after a rotation the second ADD authenticates with the new token', async () => {
      await setUp(['token-one']);
      kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'mv' } });
      kube.api.setPod({ namespace: 'default', name: 'web2', annotations: { [ANN_NETWORKS]: 'mv' } });
      const second = await bed.newPod();
      const first = { conf };
      const next = {
        conf,
        pod: { namespace: 'default', name: 'web2' },
        netns: second,
        containerId: `${bed.containerId}-2`,
      };

      expectOk(await bed.run('ADD', first));
      const mark = kube.api.requests.length;
      kube.rotateToken('token-two');
      expectOk(await bed.run('ADD', next));

      const identities = (rs: typeof kube.api.requests) => [...new Set(rs.map((r) => r.identity))];
      expect(identities(kube.api.requests.slice(0, mark))).toEqual(['token:token-one']);
      expect(identities(kube.requestsSince(mark))).toEqual(['token:token-two']);
      expect(networkStatus('web2').map((s) => s.interface)).toEqual(['eth0', 'net1']);
      expectOk(await bed.run('DEL', first));
      expectOk(await bed.run('DEL', next));
      await bed.expectNothingLeft();
    });
  });
});
