import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bpfObjectDir, makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  addressesOf,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  POD,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { stopEchoServers, tcpEcho, udpEcho } from '../helpers/traffic.ts';
import { pluginBinary, removePluginBinary } from './veth-testbed.ts';

// braid-veth as braid's cluster network, with macvlan secondaries from NADs: the two plugins of
// the project working together the way a node would run them.

const unavailable = braidUnavailable();

describe.skipIf(unavailable !== undefined)(
  'braid-veth as the cluster network of braid, with macvlan secondaries',
  () => {
    let bed: BraidBed;
    let pins: PinRoot;
    let binDir: string;
    let stateDir: string;

    beforeAll(async () => {
      braidBinary();
      const veth = await pluginBinary();
      binDir = makeTempDir('braid-t-vethbin');
      symlinkSync(veth, join(binDir, 'braid-veth'));
    });
    afterAll(() => removePluginBinary());

    afterEach(async () => {
      stopEchoServers();
      await destroyAllNetns();
      pins?.cleanup();
      cleanupTemps();
    });

    async function setUp(): Promise<{ second: Netns }> {
      bed = await makeBraidBed();
      pins = makePinRoot();
      // makeBraidBed's temp dirs are removed by cleanupTemps; the state dir must exist beforehand.
      stateDir = join(bed.root, 'veth-state');
      mkdirSync(stateDir, { recursive: true });
      bed.writeConfFile(
        {
          cniVersion: '1.0.0',
          name: 'podnet',
          plugins: [{ type: 'braid-veth', bpfRoot: pins.path, stateDir, ipam: bed.hostLocal('10.91.0.0/24') }],
        },
        '10-podnet.conflist',
      );
      await bed.macvlanNad('lan', '10.92.0.0/24');
      bed.writePod({ 'k8s.v1.cni.cncf.io/networks': 'lan' });
      bed.writePod({ 'k8s.v1.cni.cncf.io/networks': 'lan@data' }, { namespace: 'default', name: 'db' });
      return { second: await bed.newPod() };
    }

    const conf = () => bed.conf({ clusterNetwork: join(bed.confDir, '10-podnet.conflist'), binDir });
    const env = () => ({ BRAID_BPF_DIR: bpfObjectDir });

    it('gives each pod a braid-veth eth0 and a macvlan secondary, carries traffic over both, and DEL leaves nothing', async () => {
      const { second } = await setUp();
      expectOk(await bed.run('ADD', { conf: conf(), extraEnv: env() }));
      expectOk(
        await bed.run('ADD', {
          conf: conf(),
          extraEnv: env(),
          netns: second,
          containerId: 'ctr-db',
          pod: { namespace: 'default', name: 'db' },
        }),
      );

      // braid-veth: the pod address as /32, default route through the link-local gateway.
      const webEth0 = await addressesOf(bed.pod, 'eth0');
      const dbEth0 = await addressesOf(second, 'eth0');
      expect(webEth0).toEqual([expect.stringMatching(/^10\.91\.0\.\d+\/32$/)]);
      expect(dbEth0).toEqual([expect.stringMatching(/^10\.91\.0\.\d+\/32$/)]);
      const routes = await bed.pod.routes(4);
      expect(routes).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '169.254.1.1', dev: 'eth0' }));
      expect(await addressesOf(bed.pod, 'net1')).toEqual([expect.stringMatching(/^10\.92\.0\.\d+\/24$/)]);
      expect(await addressesOf(second, 'data')).toEqual([expect.stringMatching(/^10\.92\.0\.\d+\/24$/)]);

      const status = await bed.networkStatus(POD);
      expect(status?.map((s) => [s.name, s.interface, s.default])).toEqual([
        ['podnet', 'eth0', true],
        ['default/lan', 'net1', false],
      ]);

      const ip = (cidr: string) => cidr.split('/')[0]!;
      expect(await tcpEcho(second, bed.pod, ip(dbEth0[0]!))).toBe(true);
      expect(await udpEcho(second, bed.pod, ip(dbEth0[0]!))).toBe(true);
      const dbLan = (await addressesOf(second, 'data'))[0]!;
      expect(await tcpEcho(second, bed.pod, ip(dbLan))).toBe(true);

      expectOk(await bed.run('DEL', { conf: conf(), extraEnv: env() }));
      // The other pod keeps its network: the node (an address on its loopback, as a host has) still
      // reaches it through its host route.
      expect(await addressesOf(second, 'eth0')).toEqual(dbEth0);
      await bed.node.ip(['addr', 'add', '192.168.251.1/32', 'dev', 'lo']);
      expect(await tcpEcho(second, bed.node, ip(dbEth0[0]!), { source: '192.168.251.1' })).toBe(true);
      expectOk(
        await bed.run('DEL', {
          conf: conf(),
          extraEnv: env(),
          netns: second,
          containerId: 'ctr-db',
          pod: { namespace: 'default', name: 'db' },
        }),
      );

      await bed.expectNothingLeft([bed.pod, second]);
      // braid-veth's per-attachment records are gone (its lock file and the directory stay).
      expect(readdirSync(join(stateDir, 'endpoints'))).toEqual([]);
      // Endpoint records and links are gone; only the shared, pinned program and maps may remain.
      const linksDir = join(pins.path, 'veth', 'links');
      expect(existsSync(linksDir) ? readdirSync(linksDir) : []).toEqual([]);
    });
  },
);
