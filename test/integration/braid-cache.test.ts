import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  addressesOf,
  braidUnavailable,
  expectCniError,
  expectOk,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { Netns } from '../helpers/netns.ts';

// braid's per-container cache (<cniDir>/<containerId>-<ifname>.json): DEL without it or with a
// broken one, and concurrent requests (cni-spec.md A8). Pods get the bridge cluster network and a
// macvlan NAD `lan`.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid cache', () => {
  let bed: BraidBed;
  let cacheFile: string;

  useBraidBed(async (b) => {
    bed = b;
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    cacheFile = join(bed.cniDir, `${bed.containerId}-eth0.json`);
  });

  describe('DEL with the cache missing', () => {
    it('recomputes the attachments from the pod store and NADs and frees every address', async () => {
      expectOk(await bed.run('ADD'));
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);
      rmSync(cacheFile);

      expectOk(await bed.run('DEL'));

      await bed.expectNothingLeft();
    });

    it('still succeeds when the pod is gone from the store too, releasing what it can still name', async () => {
      expectOk(await bed.run('ADD'));
      rmSync(cacheFile);
      rmSync(join(bed.podDir, 'default', 'web.yaml'));

      expectOk(await bed.run('DEL'));

      expect(bed.leases()).not.toContain('cluster/10.88.0.2');
      expect(await bed.linkNames()).not.toContain('eth0');
    });
  });

  describe('DEL with a corrupt cache', () => {
    it.each([
      ['garbage', '\u0000\u0000{"kind":"braidCa'],
      ['valid JSON that is no record', '{"kind":"braidCacheV1"}'],
    ])('%s: DEL succeeds, the file is kept aside, the addresses are freed', async (_what, content) => {
      expectOk(await bed.run('ADD'));
      writeFileSync(cacheFile, content);

      const r = await bed.run('DEL');

      expectOk(r);
      const kept = readdirSync(bed.cniDir).filter((f) => f.startsWith(`${bed.containerId}-eth0.json.corrupt-`));
      expect(kept).toHaveLength(1);
      expect(readFileSync(join(bed.cniDir, kept[0]!), 'utf8')).toBe(content);
      expect(r.stderr).toContain(kept[0]!);
      await bed.expectNothingLeft();
    });

    it('a corrupt cache does not block a new ADD, and the new record is complete', async () => {
      expectOk(await bed.run('ADD'));
      expectOk(await bed.run('DEL'));
      writeFileSync(cacheFile, 'not json');

      expectOk(await bed.run('ADD'));

      const record = JSON.parse(readFileSync(cacheFile, 'utf8'));
      expect(record).toMatchObject({ kind: 'braidCacheV1', containerId: bed.containerId, state: 'added' });
    });
  });

  describe('A8 concurrency', () => {
    it('20 parallel ADDs of distinct containers succeed with a consistent cache; 20 parallel DELs leave nothing', async () => {
      const pods: { ns: Netns; id: string; pod: { namespace: string; name: string } }[] = [];
      for (let i = 0; i < 20; i++) {
        const pod = { namespace: 'default', name: `web-${i}` };
        bed.writePod({ [ANN_NETWORKS]: 'lan' }, pod);
        pods.push({ ns: i === 0 ? bed.pod : await bed.newPod(), id: `${bed.containerId}-${i}`, pod });
      }
      const runAll = (command: string) =>
        Promise.all(
          pods.map((p) => bed.run(command, { containerId: p.id, netns: p.ns, pod: p.pod, timeoutMs: 60_000 })),
        );

      const adds = await runAll('ADD');

      adds.forEach((r, i) => expect(r.code, `ADD ${i}: ${r.stdout} ${r.stderr}`).toBe(0));
      expect(bed.leases()).toHaveLength(40);
      expect(bed.cacheFiles()).toEqual(pods.map((p) => `${p.id}-eth0.json`).sort());
      for (const p of pods) {
        const record = JSON.parse(readFileSync(join(bed.cniDir, `${p.id}-eth0.json`), 'utf8'));
        expect(record).toMatchObject({ kind: 'braidCacheV1', containerId: p.id, state: 'added', netns: p.ns.path });
        const cachedIps = record.attachments.map(
          (a: { result: { ips: { address: string }[] } }) => a.result.ips[0]!.address,
        );
        expect(cachedIps).toEqual([...(await addressesOf(p.ns, 'eth0')), ...(await addressesOf(p.ns, 'net1'))]);
        expect(await bed.networkStatus(p.pod)).toHaveLength(2);
      }
      const addresses = adds.map((r) => r.json!.ips[0].address);
      expect(new Set(addresses).size).toBe(20);

      const dels = await runAll('DEL');

      dels.forEach((r, i) => expect(r.code, `DEL ${i}: ${r.stdout} ${r.stderr}`).toBe(0));
      await bed.expectNothingLeft();
    }, 120_000);

    it('5 parallel ADDs of the same container: one wins, the others are refused, one set of interfaces', async () => {
      const adds = await Promise.all([0, 1, 2, 3, 4].map(() => bed.run('ADD', { timeoutMs: 60_000 })));

      expect(adds.filter((r) => r.code === 0)).toHaveLength(1);
      for (const r of adds.filter((x) => x.code !== 0)) expectCniError(r, 102);
      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);
      expect(existsSync(cacheFile)).toBe(true);

      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });
  });
});
