import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_STATUS,
  braidUnavailable,
  expectCniError,
  expectOk,
  hex,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { closeAllKubeBeds, macvlanConf, podInterfaces, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';

// Issue 3, when things go wrong, through the braid binary against the fake API server: an API
// server that is down costs an ADD a bounded wait and code 11 and never touches DEL; the readiness
// indicator file gates ADD and STATUS; K8S_POD_UID must match the API's pod unless it is a
// static/mirror pod.

const unavailable = braidUnavailable();
/** Process start, delegates and slack on a loaded machine, on top of braid's own API bound. */
const MARGIN_MS = 2_000;

describe.skipIf(unavailable !== undefined)('braid on the Kubernetes API: failures and gates', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let conf: Record<string, unknown>;

  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path, { apiTimeout: 0.5, apiRetries: 1 });
    const master = await bed.nodeVeth();
    conf = kube.conf(bed.conf());
    kube.api.setNad('default', 'mv', JSON.stringify(macvlanConf('mv', master, '10.10.1.0/24', bed.ipamDir)));
    kube.api.setPod({ namespace: 'default', name: 'web', uid: 'uid-api', annotations: { [ANN_NETWORKS]: 'mv' } });
  });
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  async function timed<T>(work: Promise<T>): Promise<[T, number]> {
    const start = performance.now();
    const value = await work;
    return [value, performance.now() - start];
  }

  // apiTimeout 0.5 s, apiRetries 1: two attempts and one 200 ms pause, 1.2 s per API call at most.
  const API_BOUND_MS = 2 * 500 + 200;

  describe('API server down', () => {
    it('ADD with nothing listening: code 11 within the configured bound, nothing left behind', async () => {
      await kube.gateway.close();

      const [r, ms] = await timed(bed.run('ADD', { conf }));

      expect(expectCniError(r, 11).msg).toMatch(
        /did not answer GET \/api\/v1\/namespaces\/default\/pods\/web.*ECONNREFUSED/,
      );
      expect(ms).toBeLessThan(API_BOUND_MS + MARGIN_MS);
      await bed.expectNothingLeft();
    });

    it('ADD against a server that never answers: code 11 after apiTimeout x (apiRetries + 1), nothing left behind', async () => {
      kube.api.inject({ kind: 'hang' }, {}, 100);

      const [r, ms] = await timed(bed.run('ADD', { conf }));

      expect(expectCniError(r, 11).msg).toContain('after 2 attempt(s)');
      expect(ms).toBeGreaterThanOrEqual(2 * 500);
      expect(ms).toBeLessThan(API_BOUND_MS + MARGIN_MS);
      expect(kube.api.requests).toHaveLength(2);
      await bed.expectNothingLeft();
    });

    it('DEL after the server stopped succeeds from the cache without a single API request', async () => {
      expectOk(await bed.run('ADD', { conf }));
      expect([...(await podInterfaces(bed.pod)).keys()].sort()).toEqual(['eth0', 'net1']);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'mv/10.10.1.2']);
      await kube.stopApi();
      const requests = kube.api.requests.length;
      const connections = kube.gateway.connections;

      expectOk(await bed.run('DEL', { conf }));

      await bed.expectNothingLeft();
      expect(kube.api.requests.length, 'requests the API server saw during DEL').toBe(requests);
      expect(kube.gateway.connections, 'connections braid opened towards the API during DEL').toBe(connections);
    });
  });

  describe('readinessindicatorfile', () => {
    let ready: string;
    beforeEach(() => {
      ready = join(bed.root, `ready-${hex()}`);
    });

    it('ADD waits for the file and succeeds once it appears', async () => {
      const add = timed(bed.run('ADD', { conf: { ...conf, readinessindicatorfile: ready, readinessTimeout: 10 } }));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(kube.api.requests, 'no API request while waiting').toEqual([]);
      expect(await bed.linkNames()).toEqual(['lo']);
      writeFileSync(ready, '');

      const [r, ms] = await add;

      expectOk(r);
      expect(ms).toBeGreaterThanOrEqual(1_000);
      expect([...(await podInterfaces(bed.pod)).keys()].sort()).toEqual(['eth0', 'net1']);
      expectOk(await bed.run('DEL', { conf }));
    });

    it('ADD fails with code 11 naming the file when it never appears within readinessTimeout', async () => {
      const [r, ms] = await timed(
        bed.run('ADD', { conf: { ...conf, readinessindicatorfile: ready, readinessTimeout: 1 } }),
      );

      expect(expectCniError(r, 11).msg).toContain(ready);
      expect(ms).toBeGreaterThanOrEqual(1_000);
      expect(ms).toBeLessThan(1_000 + MARGIN_MS);
      expect(kube.api.requests).toEqual([]);
      await bed.expectNothingLeft();
    });

    it('STATUS (cniVersion 1.1.0) returns 50 while the file is missing and 0 once it exists', async () => {
      const statusConf = { ...conf, cniVersion: '1.1.0', readinessindicatorfile: ready };

      expect(expectCniError(await bed.run('STATUS', { conf: statusConf }), 50).msg).toContain(ready);
      writeFileSync(ready, '');
      expectOk(await bed.run('STATUS', { conf: statusConf }));
    });
  });

  describe('K8S_POD_UID', () => {
    const args = (uid: string) =>
      `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${bed.containerId};K8S_POD_UID=${uid}`;

    it('ADD fails naming both UIDs when the API pod is a different pod of the same name', async () => {
      const r = await bed.run('ADD', { conf, args: args('uid-kubelet') });

      expect(r.code).not.toBe(0);
      expect(r.json?.msg).toContain('uid-api');
      expect(r.json?.msg).toContain('uid-kubelet');
      expect(kube.api.pod('default', 'web')!.metadata.annotations?.[ANN_STATUS]).toBeUndefined();
      await bed.expectNothingLeft();
    });

    it('accepts a static pod, whose mirror pod in the API has another UID', async () => {
      kube.api.setPod({
        namespace: 'default',
        name: 'web',
        uid: 'uid-mirror',
        annotations: {
          [ANN_NETWORKS]: 'mv',
          'kubernetes.io/config.source': 'file',
          'kubernetes.io/config.mirror': 'a1b2c3',
        },
      });

      expectOk(await bed.run('ADD', { conf, args: args('uid-static') }));

      expect((await podInterfaces(bed.pod)).get('net1')?.ips, 'the annotation came from the mirror pod').toEqual([
        '10.10.1.2',
      ]);
      expectOk(await bed.run('DEL', { conf, args: args('uid-static') }));
      await bed.expectNothingLeft();
    });
  });
});
