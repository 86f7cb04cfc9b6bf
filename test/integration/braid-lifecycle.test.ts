import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  addressesOf,
  braidUnavailable,
  expectCniError,
  expectOk,
  isAlive,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';

// ADD, DEL and CHECK of braid with real plugins (bridge cluster network, macvlan NAD) and spies
// (cni-spec.md C, D, E).

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid ADD/DEL/CHECK lifecycle', () => {
  let bed: BraidBed;

  useBraidBed((b) => {
    bed = b;
  });

  /** Cluster bridge as eth0 and a macvlan NAD `lan` (10.89.0.0/24) as net1. */
  async function twoNetworks(): Promise<void> {
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
  }

  describe('C1 result in the request version', () => {
    it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('cniVersion %s', async (v) => {
      bed.writePod({});
      const conf = bed.conf({ cniVersion: v });
      const result = expectOk(await bed.run('ADD', { conf }))!;

      expect(result.cniVersion).toBe(v);
      const eth0 = (result.interfaces as { name: string; sandbox?: string }[]).findIndex((i) => i.name === 'eth0');
      expect(result.interfaces[eth0].sandbox).toBe(bed.pod.path);
      const ip = result.ips[0];
      expect(ip).toMatchObject({ address: '10.88.0.2/24', gateway: '10.88.0.1', interface: eth0 });
      if (v.startsWith('0.')) expect(ip.version).toBe('4');
      else expect(ip).not.toHaveProperty('version');
      expect(await addressesOf(bed.pod, 'eth0')).toEqual(['10.88.0.2/24']);

      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });
  });

  describe('C3 a second ADD without DEL', () => {
    it('fails and leaves the first ADD in place', async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));
      const before = {
        eth0: await addressesOf(bed.pod, 'eth0'),
        net1: await addressesOf(bed.pod, 'net1'),
        leases: bed.leases(),
      };
      expect(before.leases).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);

      const err = expectCniError(await bed.run('ADD'), 102);
      expect(err.msg).toContain(bed.containerId);

      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
      expect(await addressesOf(bed.pod, 'eth0')).toEqual(before.eth0);
      expect(await addressesOf(bed.pod, 'net1')).toEqual(before.net1);
      expect(bed.leases()).toEqual(before.leases);
      expect(bed.cacheFiles()).toEqual([`${bed.containerId}-eth0.json`]);

      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });

    it("an ADD of another container into the same namespace fails without removing the first one's interfaces", async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));

      const r = await bed.run('ADD', { containerId: `${bed.containerId}-again` });

      expect(r.code, r.stdout).not.toBe(0);
      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
      expect(bed.leases()).toEqual(['cluster/10.88.0.2', 'lan/10.89.0.2']);
    });
  });

  describe('C5 DEL after an ADD that was killed half-way', () => {
    it('DEL cleans up what the killed ADD had set up', async () => {
      const [slow] = bed.spyNad('slow', ['spy-slow']);
      slow!.setControl({ mode: 'sleep', sleepSeconds: 30, onlyFor: ['ADD'] });
      bed.writePod({ [ANN_NETWORKS]: 'slow' });

      const killed = await bed.run('ADD', { timeoutMs: 3000 });
      const spyCall = slow!.callsOf('ADD')[0];
      if (spyCall) process.kill(-spyCall.pid, 'SIGKILL');

      expect(killed.timedOut).toBe(true);
      expect(spyCall, 'braid reached the second attachment before it was killed').toBeDefined();
      expect(await bed.linkNames()).toEqual(['eth0', 'lo']);
      const record = JSON.parse(readFileSync(join(bed.cniDir, `${bed.containerId}-eth0.json`), 'utf8'));
      expect(record.state).toBe('adding');

      slow!.clearControl();
      expectOk(await bed.run('DEL'));

      expect(slow!.callsOf('DEL')).toHaveLength(1);
      expect(isAlive(slow!.sleepPid())).toBe(false);
      await bed.expectNothingLeft();
    });
  });

  describe('D1 DEL is idempotent', () => {
    it('ADD, DEL, DEL: both DELs succeed', async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));
      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });

    it('DEL of a container braid never saw succeeds', async () => {
      await twoNetworks();
      expectOk(await bed.run('DEL', { containerId: 'never-added' }));
      expectOk(await bed.run('DEL', { containerId: 'never-added-either', pod: null }));
      await bed.expectNothingLeft();
    });
  });

  describe('D2 DEL when the network namespace is gone', () => {
    it("succeeds and releases every attachment's addresses", async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));
      expect(bed.leases()).toHaveLength(2);
      const podPath = bed.pod.path;
      await bed.pod.destroy();

      expectOk(await bed.run('DEL', { netns: podPath }));

      await bed.expectNothingLeft([]);
    });
  });

  describe('D3 DEL passes the final ADD result', () => {
    it('a plugin chained after the bridge gets the cached ADD result as prevResult on DEL', async () => {
      const file = bed.writeConfFile({
        cniVersion: '1.0.0',
        name: 'chained',
        plugins: [
          { type: 'bridge', bridge: 'cni0', isGateway: true, ipam: bed.hostLocal('10.88.0.0/24') },
          { type: 'spy-tail' },
        ],
      });
      const tail = bed.spy('spy-tail');
      bed.writePod({});
      const conf = bed.conf({ clusterNetwork: file });
      const added = expectOk(await bed.run('ADD', { conf }))!;

      expectOk(await bed.run('DEL', { conf }));

      const prev = tail.callsOf('DEL')[0]!.config!.prevResult;
      expect(prev.ips).toEqual(added.ips);
      expect(prev.interfaces).toEqual(added.interfaces);
      await bed.expectNothingLeft();
    });
  });

  describe('D4 DEL reaches every attachment', () => {
    let spies: SpyPlugin[];
    let conf: Record<string, unknown>;

    beforeEach(() => {
      const net = bed.spyNetwork('spynet', ['spy-a']);
      spies = [net.spies[0]!, bed.spyNad('b', ['spy-b'])[0]!, bed.spyNad('c', ['spy-c'])[0]!];
      bed.writePod({ [ANN_NETWORKS]: 'b,c' });
      conf = bed.conf({ clusterNetwork: net.file });
    });

    it('in reverse order, past a failure whose code is reported; the retry DELs only what failed', async () => {
      const [a, b, c] = spies as [SpyPlugin, SpyPlugin, SpyPlugin];
      expectOk(await bed.run('ADD', { conf }));
      b.setControl({ mode: 'error', code: 11, msg: 'b is busy', onlyFor: ['DEL'] });

      expect(expectCniError(await bed.run('DEL', { conf }), 11).msg).toContain('b is busy');

      const order = [a, b, c].map((s) => ({ name: s.name, time: s.callsOf('DEL')[0]!.time }));
      expect(order.sort((x, y) => Number(x.time - y.time)).map((o) => o.name)).toEqual(['spy-c', 'spy-b', 'spy-a']);
      expect(bed.cacheFiles()).toHaveLength(1);

      b.clearControl();
      expectOk(await bed.run('DEL', { conf }));
      expect([a, b, c].map((s) => s.callsOf('DEL').length)).toEqual([1, 2, 1]);
      await bed.expectNothingLeft();
    });
  });

  describe('E1/E2/E6 CHECK', () => {
    it('CHECK with a 0.3.1 conf is code 1', async () => {
      await twoNetworks();
      const conf = bed.conf({ cniVersion: '0.3.1' });
      expectOk(await bed.run('ADD', { conf }));
      expect(expectCniError(await bed.run('CHECK', { conf }), 1).msg).toContain('CHECK');
    });

    it('CHECK after ADD succeeds with real plugins', async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));
      const r = await bed.run('CHECK');
      expect(expectOk(r)).toBeUndefined();
    });

    it('CHECK fails naming the network when a secondary interface is gone from the pod', async () => {
      await twoNetworks();
      expectOk(await bed.run('ADD'));
      await bed.pod.ip(['link', 'del', 'net1']);

      const r = await bed.run('CHECK');

      expect(r.code).not.toBe(0);
      expect(r.json?.msg).toContain('default/lan');
    });

    it('CHECK before any ADD is refused', async () => {
      await twoNetworks();
      expectCniError(await bed.run('CHECK'), 3);
    });

    it('every attachment gets CHECK with its own cached result, except a list with disableCheck', async () => {
      const net = bed.spyNetwork('spynet', ['spy-a']);
      const [b] = bed.spyNad('b', ['spy-b']);
      const [c] = bed.spyNad('c', ['spy-c'], { extra: { disableCheck: true } });
      bed.writePod({ [ANN_NETWORKS]: 'b@side,c' });
      const conf = bed.conf({ clusterNetwork: net.file });
      expectOk(await bed.run('ADD', { conf }));

      expectOk(await bed.run('CHECK', { conf }));

      const checkOf = (s: SpyPlugin) => s.callsOf('CHECK')[0];
      expect(checkOf(net.spies[0]!)!.config!.prevResult.interfaces).toEqual([{ name: 'eth0', sandbox: bed.pod.path }]);
      expect(checkOf(b!)!.env.CNI_IFNAME).toBe('side');
      expect(checkOf(b!)!.config!.prevResult.interfaces).toEqual([{ name: 'side', sandbox: bed.pod.path }]);
      expect(c!.callsOf('CHECK')).toEqual([]);
    });
  });
});
