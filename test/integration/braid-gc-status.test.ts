import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidUnavailable,
  expectCniError,
  expectOk,
  type BraidBed,
  type PodRef,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { Netns } from '../helpers/netns.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';

// STATUS and GC of braid (cni-spec.md F, G): real plugins for what GC must remove, spies of CNI
// 1.1.0 for what braid must forward.

const unavailable = braidUnavailable();
const VALID = 'cni.dev/valid-attachments';
const OLD_VALID = 'cni.dev/attachments';

describe.skipIf(unavailable !== undefined)('braid STATUS and GC', () => {
  let bed: BraidBed;

  useBraidBed((b) => {
    bed = b;
  });

  describe('F1-F5 STATUS', () => {
    const conf110 = (extra: Record<string, unknown> = {}) => bed.conf({ cniVersion: '1.1.0', ...extra });

    it('healthy: exit 0 and no output, without CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME or CNI_PATH', async () => {
      const r = await bed.run('STATUS', { conf: conf110(), extraEnv: { CNI_PATH: undefined } });
      expect(expectOk(r)).toBeUndefined();
      expect(r.stdout).toBe('');
    });

    it('asks the 1.1.0 delegates an ADD needs, and passes their code 50 on', async () => {
      const net = bed.spyNetwork('statusnet', ['spy-status'], { cniVersion: '1.1.0' });
      const spy = net.spies[0]!;
      const conf = conf110({ defaultNetworks: ['statusnet'] });
      expectOk(await bed.run('STATUS', { conf }));
      const call = spy.callsOf('STATUS')[0]!;
      expect(call.config).toMatchObject({ cniVersion: '1.1.0', name: 'statusnet', type: 'spy-status' });
      expect(call.env.CNI_CONTAINERID ?? '').toBe('');

      spy.setControl({ mode: 'error', code: 50, msg: 'overlay not ready', onlyFor: ['STATUS'] });
      expect(expectCniError(await bed.run('STATUS', { conf }), 50).msg).toContain('overlay not ready');

      // F4: STATUS is informational; ADD still works.
      bed.writePod({});
      expectOk(await bed.run('ADD', { conf }));
    });

    it('a conf older than 1.1.0 is code 1', async () => {
      expectCniError(await bed.run('STATUS', { conf: bed.conf({ cniVersion: '1.0.0' }) }), 1);
    });

    it('a missing readinessindicatorfile is code 50; once it exists STATUS succeeds', async () => {
      const ready = join(bed.root, 'ready');
      const conf = conf110({ readinessindicatorfile: ready });
      expect(expectCniError(await bed.run('STATUS', { conf }), 50).msg).toContain(ready);
      writeFileSync(ready, '');
      expectOk(await bed.run('STATUS', { conf }));
    });

    it('ADD waits for the readinessindicatorfile and gives up with code 11, leaving nothing', async () => {
      bed.writePod({});
      const ready = join(bed.root, 'ready');
      const conf = bed.conf({ readinessindicatorfile: ready, readinessTimeout: 1 });
      const started = Date.now();
      expectCniError(await bed.run('ADD', { conf }), 11);
      expect(Date.now() - started).toBeLessThan(5000);
      await bed.expectNothingLeft();

      setTimeout(() => writeFileSync(ready, ''), 300);
      expectOk(await bed.run('ADD', { conf: bed.conf({ readinessindicatorfile: ready, readinessTimeout: 10 }) }));
    });
  });

  interface Added {
    id: string;
    pod: PodRef;
    ns: Netns;
  }

  /** ADDs three pods (a is bed.pod) with the given conf; each gets the pod annotation `networks`. */
  async function addThree(conf: Record<string, unknown>, networks: string): Promise<Added[]> {
    const added: Added[] = [];
    for (const tag of ['a', 'b', 'c']) {
      const pod = { namespace: 'default', name: `web-${tag}` };
      bed.writePod({ [ANN_NETWORKS]: networks }, pod);
      const ns = tag === 'a' ? bed.pod : await bed.newPod();
      const id = `${bed.containerId}-${tag}`;
      expectOk(await bed.run('ADD', { conf, containerId: id, netns: ns, pod }));
      added.push({ id, pod, ns });
    }
    return added;
  }

  describe('G1-G3 GC removes what the runtime no longer lists', () => {
    it.each([VALID, OLD_VALID])('with %s: B and C are collected, A is left intact', async (key) => {
      await bed.macvlanNad('lan', '10.89.0.0/24');
      const conf = bed.conf({ cniVersion: '1.1.0' });
      const [a, b, c] = (await addThree(conf, 'lan')) as [Added, Added, Added];
      expect(bed.leases()).toHaveLength(6);

      const r = await bed.run('GC', { conf: { ...conf, [key]: [{ containerID: a.id, ifname: 'eth0' }] } });

      expect(expectOk(r)).toBeUndefined();
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);
      expect(bed.cacheFiles()).toEqual([`${a.id}-eth0.json`]);
      expect(await bed.linkNames(a.ns)).toEqual(['eth0', 'lo', 'net1']);
      expect(await bed.linkNames(b.ns)).toEqual(['lo']);
      expect(await bed.linkNames(c.ns)).toEqual(['lo']);

      expectOk(await bed.run('DEL', { conf, containerId: a.id, netns: a.ns, pod: a.pod }));
      await bed.expectNothingLeft();
    });

    it('collects a container whose network namespace is already gone', async () => {
      const conf = bed.conf({ cniVersion: '1.1.0' });
      const [a, b] = (await addThree(conf, '')) as [Added, Added, Added];
      await b.ns.destroy();

      expectOk(await bed.run('GC', { conf: { ...conf, [VALID]: [{ containerID: a.id, ifname: 'eth0' }] } }));

      expect(bed.leases()).toEqual(['cluster/10.88.0.2']);
      expect(bed.cacheFiles()).toEqual([`${a.id}-eth0.json`]);
    });

    it('a GC request with neither key is refused and collects nothing', async () => {
      const conf = bed.conf({ cniVersion: '1.1.0' });
      await addThree(conf, '');
      const err = expectCniError(await bed.run('GC', { conf }), 7);
      expect(err.msg).toContain(VALID);
      expect(bed.cacheFiles()).toHaveLength(3);
      expect(bed.leases()).toHaveLength(3);
    });

    it('a conf older than 1.1.0 is code 1', async () => {
      expectCniError(await bed.run('GC', { conf: { ...bed.conf(), [VALID]: [] } }), 1);
    });
  });

  describe('G4-G6 GC reaches the delegates', () => {
    it('forwards GC to a 1.1.0 delegate with the valid set in its own (containerID, ifname) terms', async () => {
      const [side] = bed.spyNad('side', ['spy-side'], { cniVersion: '1.1.0' });
      const conf = bed.conf({ cniVersion: '1.1.0' });
      const [a, b] = (await addThree(conf, 'side@sidecar')) as [Added, Added, Added];

      expectOk(await bed.run('GC', { conf: { ...conf, [VALID]: [{ containerID: a.id, ifname: 'eth0' }] } }));

      const dels = side!.callsOf('DEL').map((c) => c.env.CNI_CONTAINERID);
      expect(dels.sort()).toEqual([b.id, `${bed.containerId}-c`].sort());
      const gc = side!.callsOf('GC');
      expect(gc).toHaveLength(1);
      const valid = [{ containerID: a.id, ifname: 'sidecar' }];
      expect(gc[0]!.config).toMatchObject({ cniVersion: '1.1.0', name: 'side', [VALID]: valid, [OLD_VALID]: valid });
      expect(gc[0]!.config).not.toHaveProperty('prevResult');
      expect(gc[0]!.env.CNI_CONTAINERID ?? '').toBe('');
      expect(bed.cacheFiles()).toEqual([`${a.id}-eth0.json`]);
    });

    it('a delegate whose GC fails does not stop the others; braid reports the failure', async () => {
      const net = bed.spyNetwork('spynet', ['spy-a'], { cniVersion: '1.1.0' });
      const [sideSpy] = bed.spyNad('side', ['spy-b'], { cniVersion: '1.1.0' });
      await bed.macvlanNad('lan', '10.89.0.0/24');
      const conf = bed.conf({ cniVersion: '1.1.0', clusterNetwork: net.file });
      const [a] = (await addThree(conf, 'side,lan')) as [Added, Added, Added];
      const clusterSpy = net.spies[0] as SpyPlugin;
      clusterSpy.setControl({ mode: 'error', code: 11, msg: 'cluster GC broke', onlyFor: ['GC'] });

      const r = await bed.run('GC', { conf: { ...conf, [VALID]: [{ containerID: a.id, ifname: 'eth0' }] } });

      expect(expectCniError(r, 11).msg).toContain('cluster GC broke');
      expect(clusterSpy.callsOf('GC')).toHaveLength(1);
      expect(sideSpy!.callsOf('GC')[0]!.config![VALID]).toEqual([{ containerID: a.id, ifname: 'net1' }]);
      expect(bed.leases()).toEqual(['lan/10.89.0.2']);
      expect(bed.cacheFiles()).toEqual([`${a.id}-eth0.json`]);
    });

    it('a delegate network with disableGC gets no GC', async () => {
      const [side] = bed.spyNad('side', ['spy-side'], { cniVersion: '1.1.0', extra: { disableGC: true } });
      const conf = bed.conf({ cniVersion: '1.1.0' });
      const [a] = (await addThree(conf, 'side')) as [Added, Added, Added];

      expectOk(await bed.run('GC', { conf: { ...conf, [VALID]: [{ containerID: a.id, ifname: 'eth0' }] } }));

      expect(side!.callsOf('GC')).toEqual([]);
      expect(side!.callsOf('DEL')).toHaveLength(2);
      expect(existsSync(join(bed.cniDir, `${a.id}-eth0.json`))).toBe(true);
    });
  });
});
