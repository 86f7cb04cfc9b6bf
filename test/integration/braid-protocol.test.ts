import { describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  POD,
  REAL_PLUGINS,
  braidUnavailable,
  expectCniError,
  expectOk,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';

// braid as a CNI plugin, black box: env + stdin in, stdout/rc and the spies' logs out. The cluster
// network is a conflist of spy plugins unless a test needs real ones (cni-spec.md section 1).

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)('braid CNI protocol', () => {
  let bed: BraidBed;
  let cluster: SpyPlugin;
  let conf: Record<string, unknown>;

  useBraidBed(async (b) => {
    bed = b;
    const net = bed.spyNetwork('spynet', ['spy-cluster']);
    cluster = net.spies[0]!;
    conf = bed.conf({ clusterNetwork: net.file });
    bed.writePod({});
  });

  /** The request never reached a delegate and left nothing behind. */
  async function expectUntouched(): Promise<void> {
    expect(cluster.calls().filter((c) => c.command !== 'VERSION')).toEqual([]);
    await bed.expectNothingLeft();
  }

  describe('A1 one JSON result on stdout', () => {
    it('ADD prints exactly one JSON object on stdout and exits 0', async () => {
      const r = await bed.run('ADD', { conf });
      const result = expectOk(r)!;
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(result.interfaces).toEqual([{ name: 'eth0', sandbox: bed.pod.path }]);
      expect(bed.cacheFiles()).toEqual([`${bed.containerId}-eth0.json`]);
    });
  });

  describe('A2 required environment', () => {
    it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'])(
      'ADD without %s fails with code 4 naming it',
      async (name) => {
        const r = await bed.run('ADD', { conf, extraEnv: { [name]: undefined } });
        expect(expectCniError(r, 4).msg).toContain(name);
        await expectUntouched();
      },
    );

    it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'])(
      'CHECK without %s fails with code 4',
      async (name) => {
        const r = await bed.run('CHECK', { conf, extraEnv: { [name]: undefined } });
        expect(expectCniError(r, 4).msg).toContain(name);
      },
    );

    it.each(['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'])('DEL without %s fails with code 4', async (name) => {
      const r = await bed.run('DEL', { conf, extraEnv: { [name]: undefined } });
      expect(expectCniError(r, 4).msg).toContain(name);
    });

    it('DEL without CNI_NETNS succeeds and still releases the IPAM reservation', async () => {
      const real = bed.conf();
      expectOk(await bed.run('ADD', { conf: real }));
      expect(bed.leases()).toEqual(['cluster/10.88.0.2']);

      expectOk(await bed.run('DEL', { conf: real, netns: null }));

      expect(bed.leases()).toEqual([]);
      expect(bed.cacheFiles()).toEqual([]);
    });
  });

  describe('A3 CNI_CONTAINERID', () => {
    it.each([
      ['-x', 4],
      ['a/b', 4],
      ['ctr with space', 4],
      ['', 3],
    ])('%j is refused with code %i', async (id, code) => {
      const r = await bed.run('ADD', { conf, containerId: id });
      expectCniError(r, code);
      await expectUntouched();
    });
  });

  describe('A4 CNI_IFNAME', () => {
    it.each(['abcdefghijklmnop', 'a/b', '..', 'a b', 'eth:0'])('%j is refused with code 4', async (ifname) => {
      const r = await bed.run('ADD', { conf, ifname });
      expect(expectCniError(r, 4).msg).toContain(ifname);
      await expectUntouched();
    });
  });

  describe('A5 network name', () => {
    it('a conf without "name" is code 7', async () => {
      const { name: _n, ...noName } = conf;
      expectCniError(await bed.run('ADD', { conf: noName }), 7);
      await expectUntouched();
    });

    it('a name outside the CNI identifier rule is code 7', async () => {
      const r = await bed.run('ADD', { conf: { ...conf, name: 'bad/name' } });
      expect(expectCniError(r, 7).msg).toContain('bad/name');
      await expectUntouched();
    });
  });

  describe('A6 stdin and verb', () => {
    it('stdin that is not JSON is code 6', async () => {
      expectCniError(await bed.run('ADD', { conf: '{"cniVersion": "1.0.0", ' }), 6);
      await expectUntouched();
    });

    it('a JSON value that is not an object is code 6', async () => {
      expectCniError(await bed.run('ADD', { conf: '[1, 2]' }), 6);
      await expectUntouched();
    });

    it('an unknown verb is code 4 "unknown CNI_COMMAND: X"', async () => {
      const r = await bed.run('FROB', { conf });
      expect(expectCniError(r, 4).msg).toBe('unknown CNI_COMMAND: FROB');
      await expectUntouched();
    });
  });

  describe('B1/B3/B4 delegate errors pass through', () => {
    it('a delegate code 11 reaches the runtime as 11 with its message and details, on stdout, with cniVersion', async () => {
      cluster.setControl({ mode: 'error', code: 11, msg: 'busy, try later', details: 'lock held', onlyFor: ['ADD'] });
      const r = await bed.run('ADD', { conf });
      const err = expectCniError(r, 11);
      expect(err.cniVersion).toBe('1.0.0');
      expect(err.msg).toContain('busy, try later');
      expect(err.details).toBe('lock held');
      await bed.expectNothingLeft();
    });

    it('a delegate that fails with nothing on stdout has its stderr quoted (libcni reads stderr then)', async () => {
      // The spy logs a line to stderr before the error, so stderr is not one JSON object.
      cluster.setControl({ mode: 'error', code: 11, msg: 'on stderr', stream: 'stderr', onlyFor: ['ADD'] });
      const err = expectCniError(await bed.run('ADD', { conf }), 101);
      expect(err.msg).toContain('spy-cluster');
      expect(err.msg).toContain('on stderr');
      await bed.expectNothingLeft();
    });
  });

  describe('B5 a delegate that prints garbage', () => {
    it('a failing delegate with non-JSON output becomes a JSON error naming it', async () => {
      cluster.setControl({ mode: 'garbage', msg: 'segfault <<<', onlyFor: ['ADD'] });
      const err = expectCniError(await bed.run('ADD', { conf }), 101);
      expect(err.msg).toContain('spy-cluster');
      expect(err.msg).toContain('segfault <<<');
      await bed.expectNothingLeft();
    });

    it('a delegate that exits 0 with a non-result is refused as well', async () => {
      cluster.setControl({ mode: 'garbage', msg: 'all good!', exitCode: 0, onlyFor: ['ADD'] });
      const err = expectCniError(await bed.run('ADD', { conf }), 101);
      expect(err.msg).toContain('spy-cluster');
      await bed.expectNothingLeft();
    });
  });

  describe('H1-H3 VERSION and version checks', () => {
    const supported = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

    it('VERSION ignores garbage stdin and needs no other variable', async () => {
      const r = await bed.run('VERSION', { conf: 'not json {{{', extraEnv: { CNI_PATH: undefined } });
      expect(expectOk(r)).toEqual({ cniVersion: '1.1.0', supportedVersions: supported });
    });

    it('VERSION echoes the input version when braid speaks it', async () => {
      const r = await bed.run('VERSION', { conf: { cniVersion: '0.4.0' } });
      expect(expectOk(r)).toEqual({ cniVersion: '0.4.0', supportedVersions: supported });
    });

    it.each(['9.9.9', '0.2.0'])('ADD with cniVersion %s is code 1', async (v) => {
      const err = expectCniError(await bed.run('ADD', { conf: { ...conf, cniVersion: v } }), 1);
      expect(`${err.msg} ${err.details ?? ''}`).toContain(v);
      await expectUntouched();
    });
  });

  describe('M1 delegate lookup', () => {
    it('a delegate type that is in no CNI_PATH directory is named with the path searched', async () => {
      const file = bed.writeConfFile({ cniVersion: '1.0.0', name: 'ghostnet', plugins: [{ type: 'no-such-plugin' }] });
      const err = expectCniError(await bed.run('ADD', { conf: bed.conf({ clusterNetwork: file }) }), 7);
      expect(err.msg).toContain('failed to find plugin "no-such-plugin"');
      expect(err.msg).toContain(REAL_PLUGINS);
      expect(err.msg).toContain(bed.spyDir);
      await bed.expectNothingLeft();
    });
  });

  describe('N2/N3 CNI_ARGS', () => {
    it('the cluster network gets CNI_ARGS unchanged; secondaries get them with IgnoreUnknown=1 added', async () => {
      const [side] = bed.spyNad('side', ['spy-side']);
      bed.writePod({ [ANN_NETWORKS]: 'side' });
      const args = `K8S_POD_NAMESPACE=${POD.namespace};K8S_POD_NAME=${POD.name};K8S_POD_UID=u-1;FOO=bar`;
      expectOk(await bed.run('ADD', { conf, args }));

      expect(cluster.callsOf('ADD')[0]!.env.CNI_ARGS).toBe(args);
      const sideArgs = side!.callsOf('ADD')[0]!.env.CNI_ARGS!.split(';');
      expect(sideArgs).toContain('IgnoreUnknown=1');
      for (const pair of args.split(';')) expect(sideArgs).toContain(pair);
      expect(side!.callsOf('ADD')[0]!.env.CNI_IFNAME).toBe('net1');
    });
  });

  describe('J3 runtimeConfig only for declared capabilities', () => {
    it('braid runtimeConfig reaches cluster plugins that declare it; pod requests reach secondary plugins that declare them', async () => {
      const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
      const net = bed.spyNetwork('capnet', [{ type: 'spy-pm', capabilities: { portMappings: true } }, 'spy-plain']);
      const [mac, sidePlain] = bed.spyNad('side', [
        { type: 'spy-mac', capabilities: { mac: true, portMappings: true } },
        'spy-side',
      ]);
      bed.writePod({ [ANN_NETWORKS]: JSON.stringify([{ name: 'side', mac: '02:11:22:33:44:55' }]) });
      const withCaps = bed.conf({
        clusterNetwork: net.file,
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings },
      });

      expectOk(await bed.run('ADD', { conf: withCaps }));

      const config = (s: SpyPlugin) => s.callsOf('ADD')[0]!.config!;
      expect(config(net.spies[0]!).runtimeConfig).toEqual({ portMappings });
      expect(config(net.spies[1]!)).not.toHaveProperty('runtimeConfig');
      // NPWG 7.5: the runtime's capability args never reach secondary attachments.
      expect(config(mac!).runtimeConfig).toEqual({ mac: '02:11:22:33:44:55' });
      expect(config(sidePlain!)).not.toHaveProperty('runtimeConfig');
    });
  });

  describe('L7 per-delegate versions', () => {
    it('a 1.1.0 request with a delegate capped at 1.0.0: it sees 1.0.0 config and prevResult, braid answers 1.1.0', async () => {
      const net = bed.spyNetwork('mixed', ['spy-new', 'spy-old'], { cniVersion: '1.1.0' });
      const [fresh, old] = net.spies as [SpyPlugin, SpyPlugin];
      old.setControl({ mode: 'passthrough', supportedVersions: ['0.3.1', '0.4.0', '1.0.0'] });
      const conf110 = bed.conf({ cniVersion: '1.1.0', clusterNetwork: net.file });

      const result = expectOk(await bed.run('ADD', { conf: conf110 }))!;

      expect(result.cniVersion).toBe('1.1.0');
      expect(fresh.callsOf('ADD')[0]!.config!.cniVersion).toBe('1.1.0');
      const seen = old.callsOf('ADD')[0]!.config!;
      expect(seen.cniVersion).toBe('1.0.0');
      expect(seen.prevResult.cniVersion).toBe('1.0.0');
      expect(seen.prevResult.ips).toEqual([{ address: '10.99.0.2/24', interface: 0 }]);

      expectOk(await bed.run('DEL', { conf: conf110 }));
      const del = old.callsOf('DEL')[0]!.config!;
      expect(del.cniVersion).toBe('1.0.0');
      expect(del.prevResult.cniVersion).toBe('1.0.0');
    });
  });
});
