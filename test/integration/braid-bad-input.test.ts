import { describe, expect, it } from 'vitest';
import {
  ANN_DEFAULT,
  ANN_NETWORKS,
  POD,
  braidUnavailable,
  expectCniError,
  expectOk,
  isAlive,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';

// Bad input, each with the CNI code braid must answer and the promise that nothing is left behind:
// no interface in the pod or node namespace, no host-local reservation, no cache record. The pod
// asks for the bridge cluster network and a macvlan NAD `lan`, so a failure after the first
// attachment has something to roll back.

const unavailable = braidUnavailable();
const POD_NAME = `${POD.namespace}/${POD.name}`;

describe.skipIf(unavailable !== undefined)('braid refuses bad input and leaves nothing behind', () => {
  let bed: BraidBed;

  useBraidBed(async (b) => {
    bed = b;
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
  });

  async function refused(r: Awaited<ReturnType<BraidBed['run']>>, code: number): Promise<string> {
    const err = expectCniError(r, code);
    await bed.expectNothingLeft();
    return err.msg as string;
  }

  describe('request', () => {
    it('stdin that is not JSON: 6', async () => {
      await refused(await bed.run('ADD', { conf: `${JSON.stringify(bed.conf()).slice(0, -1)},}` }), 6);
    });

    it.each([
      // Multus only warns about an unknown level; `strict: true` refuses it.
      [{ logLevel: 'loud', strict: true }, 'logLevel'],
      [{ delegateTimeout: -1 }, 'delegateTimeout'],
      [{ systemNamespaces: 'kube-system' }, 'systemNamespaces'],
      [{ clusterNetwork: undefined }, 'clusterNetwork'],
    ])('a conf that fails the schema (%j): 7 naming the key', async (extra, key) => {
      const msg = await refused(await bed.run('ADD', { conf: bed.conf(extra) }), 7);
      expect(msg).toContain(key);
    });

    it.each([
      [{ extraEnv: { CNI_NETNS: undefined } }, 4, 'CNI_NETNS'],
      [{ ifname: 'bad/if' }, 4, 'bad/if'],
      [{ containerId: '../etc' }, 4, '../etc'],
      [{ args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME' }, 4, 'CNI_ARGS'],
    ])('bad environment %j: %i', async (opts, code, named) => {
      expect(await refused(await bed.run('ADD', opts), code)).toContain(named);
    });
  });

  describe('annotations', () => {
    it.each([
      ['comma form, bad NAD name', 'lan,Bad_Name', ['element 1', '"name"', 'Bad_Name']],
      ['comma form, empty element', 'lan,,lan', ['element 1', 'empty']],
      ['JSON form, bad IP', '[{"name":"lan","ips":["10.89.0.300"]}]', ['element 0', '"ips[0]"', '10.89.0.300']],
      ['JSON form, bad MAC', '[{"name":"lan","mac":"02:11"}]', ['element 0', '"mac"']],
      // Accepted with a warning as Multus does (migration-compat.test.ts); refused with strict: true.
      ['JSON form, unknown key (strict)', '[{"name":"lan","colour":"red"}]', ['element 0', 'colour']],
      ['JSON form, not JSON', '[{"name":"lan"', ['not valid JSON']],
    ])('%s: 7 naming pod, annotation and field', async (_what, value, named) => {
      bed.writePod({ [ANN_NETWORKS]: value });
      const msg = await refused(await bed.run('ADD', { conf: bed.conf({ strict: true }) }), 7);
      for (const part of [POD_NAME, ANN_NETWORKS, ...named]) expect(msg).toContain(part);
    });

    it('a default-network annotation naming two networks: 7', async () => {
      bed.writePod({ [ANN_DEFAULT]: 'a,b' });
      const msg = await refused(await bed.run('ADD'), 7);
      expect(msg).toContain(ANN_DEFAULT);
      expect(msg).toContain('exactly one');
    });

    it('with strict: true, an ips request on a network whose plugins do not declare the capability: 7', async () => {
      bed.writePod({ [ANN_NETWORKS]: '[{"name":"lan","ips":["10.89.0.9/24"]}]' });
      const msg = await refused(await bed.run('ADD', { conf: bed.conf({ strict: true }) }), 7);
      expect(msg).toContain('default/lan');
      expect(msg).toContain('capabilities.ips');
    });
  });

  describe('networks and delegates', () => {
    it('an unknown NAD: 7 naming it', async () => {
      bed.writePod({ [ANN_NETWORKS]: 'lan,ghost' });
      const msg = await refused(await bed.run('ADD'), 7);
      expect(msg).toContain('default/ghost');
      expect(msg).toContain(POD_NAME);
    });

    it('a delegate type that does not exist: 7 naming it and the path', async () => {
      bed.writeNad('broken', { cniVersion: '1.0.0', name: 'broken', type: 'no-such-plugin' });
      bed.writePod({ [ANN_NETWORKS]: 'lan,broken' });
      const msg = await refused(await bed.run('ADD'), 7);
      expect(msg).toContain('"no-such-plugin"');
      expect(msg).toContain(bed.spyDir);
    });

    it('a delegate that speaks no version of its network: 1', async () => {
      const [picky] = bed.spyNad('picky', ['spy-picky']);
      picky!.setControl({ mode: 'passthrough', supportedVersions: ['1.1.0'] });
      bed.writePod({ [ANN_NETWORKS]: 'lan,picky' });
      expect(await refused(await bed.run('ADD'), 1)).toContain('spy-picky');
    });

    it('a delegate that prints garbage: 101 naming it', async () => {
      const [noisy] = bed.spyNad('noisy', ['spy-noisy']);
      noisy!.setControl({ mode: 'garbage', msg: 'panic: runtime error', onlyFor: ['ADD'] });
      bed.writePod({ [ANN_NETWORKS]: 'lan,noisy' });
      const msg = await refused(await bed.run('ADD'), 101);
      expect(msg).toContain('spy-noisy');
      expect(msg).toContain('panic: runtime error');
    });

    it('a delegate that hangs: killed after delegateTimeout, code 100, braid returns promptly', async () => {
      const [hung] = bed.spyNad('hung', ['spy-hung']);
      hung!.setControl({ mode: 'sleep', sleepSeconds: 60, onlyFor: ['ADD'] });
      bed.writePod({ [ANN_NETWORKS]: 'lan,hung' });

      const started = Date.now();
      const r = await bed.run('ADD', { conf: bed.conf({ delegateTimeout: 1.5 }), timeoutMs: 20_000 });
      const elapsed = Date.now() - started;

      const msg = await refused(r, 100);
      expect(msg).toContain('spy-hung');
      expect(elapsed).toBeGreaterThanOrEqual(1500);
      expect(elapsed).toBeLessThan(10_000);
      expect(hung!.sleepPid()).toBeDefined();
      expect(isAlive(hung!.sleepPid())).toBe(false);
      expect(isAlive(hung!.callsOf('ADD')[0]!.pid)).toBe(false);
    });
  });

  describe('C4 failure of the third of four attachments', () => {
    it("returns the delegate's error, DELs the attempted ones in reverse and leaves nothing; a later DEL succeeds", async () => {
      bed.writeConfFile(
        {
          cniVersion: '1.0.0',
          name: 'cluster',
          plugins: [
            { type: 'bridge', bridge: 'cni0', isGateway: true, ipam: bed.hostLocal('10.88.0.0/24') },
            { type: 'spy-first' },
          ],
        },
        '10-cluster.conflist',
      );
      const master = await bed.nodeVeth();
      bed.writeNad('lan', {
        cniVersion: '1.0.0',
        name: 'lan',
        plugins: [
          { type: 'macvlan', master, mode: 'bridge', ipam: bed.hostLocal('10.89.0.0/24') },
          { type: 'spy-second' },
        ],
      });
      const first = bed.spy('spy-first');
      const second = bed.spy('spy-second');
      const [third] = bed.spyNad('third', ['spy-third']);
      const [fourth] = bed.spyNad('fourth', ['spy-fourth']);
      third!.setControl({ mode: 'error', code: 11, msg: 'third network is full', onlyFor: ['ADD'] });
      bed.writePod({ [ANN_NETWORKS]: 'lan,third,fourth' });

      const r = await bed.run('ADD');

      const err = expectCniError(r, 11);
      expect(err.msg).toContain('third network is full');
      const dels = [first, second, third!].map((s: SpyPlugin) => ({ name: s.name, calls: s.callsOf('DEL') }));
      for (const d of dels) expect(d.calls, d.name).toHaveLength(1);
      const order = dels.sort((a, b) => Number(a.calls[0]!.time - b.calls[0]!.time)).map((d) => d.name);
      expect(order).toEqual(['spy-third', 'spy-second', 'spy-first']);
      expect(fourth!.calls().filter((c) => c.command !== 'VERSION')).toEqual([]);
      await bed.expectNothingLeft();

      // C5: the runtime DELs after a failed ADD; braid copes with the partial state.
      expectOk(await bed.run('DEL'));
      await bed.expectNothingLeft();
    });
  });
});
