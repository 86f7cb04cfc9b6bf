import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_DEFAULT,
  braidBinary,
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
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// Issue 11 item 2: what Multus v4 accepts (replayed from its unit tests and the Go types it
// decodes with) starts the pod with a warning logged and a Warning event naming the field;
// `strict: true` refuses each one with code 7 and leaves nothing behind. Then Multus' conf
// semantics and its NoNetworkFound event. Real bridge, macvlan and ptp plugins, the API stand-in.

const unavailable = braidUnavailable();
const REASON = 'NonStandardInputAccepted';
const UID = 'uid-web';
const ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=${UID}`;

describe.skipIf(unavailable !== undefined)('accepting what Multus accepts', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let master: string;

  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
    master = await bed.nodeVeth();
    kube.api.setNad('default', 'mv', JSON.stringify(macvlanConf('mv', master, '10.10.1.0/24', bed.ipamDir)));
    kube.api.setNad('default', 'mv6', JSON.stringify(macvlanConf('mv6', master, 'fd00:10::/64', bed.ipamDir)));
    kube.api.setNad(
      'default',
      'p2p',
      JSON.stringify({ cniVersion: '1.0.0', name: 'p2p', type: 'ptp', ipam: bed.hostLocal('10.30.0.0/24') }),
    );
  });
  afterEach(async () => {
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  const warnings = () => kube.api.events.filter((e) => e.reason === REASON).map((e) => String(e.message));

  interface Case {
    what: string;
    annotations?: Record<string, string>;
    conf?: Record<string, unknown>;
    /** Set up beyond the common NADs. */
    setup?: () => void;
    /** The interface the pod must get, and what the warning must name. */
    ifname: string;
    field: string;
    check?: () => Promise<void>;
  }

  const cases: Case[] = [
    {
      what: 'an unknown key in a JSON element',
      annotations: { [ANN_NETWORKS]: '[{"name":"mv","colour":"red"}]' },
      ifname: 'net1',
      field: '"colour"',
    },
    {
      what: '"cni-args": null',
      annotations: { [ANN_NETWORKS]: '[{"name":"mv","cni-args":null}]' },
      ifname: 'net1',
      field: '"cni-args"',
    },
    {
      what: '"ips": null',
      annotations: { [ANN_NETWORKS]: '[{"name":"mv","ips":null}]' },
      ifname: 'net1',
      field: '"ips"',
    },
    {
      what: 'bandwidth with zero rates',
      annotations: {
        [ANN_NETWORKS]: '[{"name":"mv","bandwidth":{"ingressRate":0,"ingressBurst":0,"egressRate":0,"egressBurst":0}}]',
      },
      ifname: 'net1',
      field: '"bandwidth.ingressRate"',
    },
    {
      what: 'hostPort 0',
      annotations: {
        [ANN_NETWORKS]: '[{"name":"mv","portMappings":[{"hostPort":0,"containerPort":80,"protocol":"TCP"}]}]',
      },
      ifname: 'net1',
      field: '"portMappings[0].hostPort"',
    },
    {
      what: 'an 8-byte mac',
      annotations: { [ANN_NETWORKS]: '[{"name":"p2p","mac":"02:00:00:00:00:00:00:01"}]' },
      ifname: 'net1',
      field: '"mac"',
    },
    {
      what: 'a 20-byte mac',
      annotations: {
        [ANN_NETWORKS]: '[{"name":"p2p","mac":"80:00:02:08:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}]',
      },
      ifname: 'net1',
      field: '"mac"',
    },
    {
      what: 'default-route IPv4 on one element and IPv6 on another',
      annotations: {
        [ANN_NETWORKS]: '[{"name":"mv","default-route":["10.10.1.1"]},{"name":"mv6","default-route":["fd00:10::1"]}]',
      },
      ifname: 'net2',
      field: '"default-route"',
      check: async () => {
        const v4 = await bed.pod.ipJson<{ dst: string; gateway?: string; dev: string }[]>([
          '-4',
          'route',
          'show',
          'default',
        ]);
        const v6 = await bed.pod.ipJson<{ dst: string; gateway?: string; dev: string }[]>([
          '-6',
          'route',
          'show',
          'default',
        ]);
        expect(v4.map((r) => [r.dev, r.gateway])).toEqual([['net1', '10.10.1.1']]);
        expect(v6.map((r) => [r.dev, r.gateway])).toEqual([['net2', 'fd00:10::1']]);
      },
    },
    {
      what: 'a clusterNetwork NAD with a dotted name',
      conf: { clusterNetwork: 'my.crd' },
      setup: () =>
        kube.api.setNad(
          'kube-system',
          'my.crd',
          JSON.stringify(bridgeConflist('my.crd', 'cni1', '10.89.0.0/24', '10.89.0.1', bed.ipamDir)),
        ),
      ifname: 'eth0',
      field: 'clusterNetwork',
      check: async () => expect((await podInterfaces(bed.pod)).get('eth0')?.ips).toEqual(['10.89.0.2']),
    },
    {
      what: 'a defaultNetworks NAD with a dotted name',
      conf: { defaultNetworks: ['lan.v2'] },
      setup: () =>
        kube.api.setNad(
          'kube-system',
          'lan.v2',
          JSON.stringify(macvlanConf('lan.v2', master, '10.40.0.0/24', bed.ipamDir)),
        ),
      ifname: 'net1',
      field: 'defaultNetworks[0]',
    },
    { what: 'logLevel "info"', conf: { logLevel: 'info' }, ifname: 'eth0', field: 'logLevel' },
    {
      what: 'ips on a NAD no plugin of which declares the capability',
      annotations: { [ANN_NETWORKS]: '[{"name":"mv","ips":["10.10.1.50/24"]}]' },
      ifname: 'net1',
      field: 'network default/mv "ips"',
      // Multus also sends IP= in CNI_ARGS, which host-local honours.
      check: async () => expect((await podInterfaces(bed.pod)).get('net1')?.ips).toEqual(['10.10.1.50']),
    },
    {
      what: 'mac on a NAD no plugin of which declares the capability',
      annotations: { [ANN_NETWORKS]: '[{"name":"p2p","mac":"02:11:22:33:44:55"}]' },
      ifname: 'net1',
      field: 'network default/p2p "mac"',
    },
    {
      what: 'a resourceName NAD for which the pod was allocated no device',
      annotations: { [ANN_NETWORKS]: 'marker' },
      setup: () => {
        kube.api.setNad(
          'default',
          'marker',
          JSON.stringify(macvlanConf('marker', master, '10.50.0.0/24', bed.ipamDir)),
          {
            'k8s.v1.cni.cncf.io/resourceName': 'bridge.network.kubevirt.io/br0',
          },
        );
        writeFileSync(
          join(bed.root, 'checkpoint'),
          JSON.stringify({ Data: { PodDeviceEntries: [], RegisteredDevices: {} }, Checksum: 1 }),
        );
      },
      conf: { podResourcesSocket: '/nonexistent/kubelet.sock' },
      ifname: 'net1',
      field: 'k8s.v1.cni.cncf.io/resourceName',
    },
  ];

  describe.each(cases)('$what', (c) => {
    const confFor = (extra: Record<string, unknown>) => {
      const withCheckpoint = c.what.includes('resourceName')
        ? { deviceCheckpointFile: join(bed.root, 'checkpoint') }
        : {};
      return kube.conf(bed.conf({ ...c.conf, ...withCheckpoint, ...extra }));
    };
    beforeEach(() => {
      kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: c.annotations ?? {} });
      c.setup?.();
    });

    it('starts the pod with the interface and a Warning event naming the field', async () => {
      const conf = confFor({});
      expectOk(await bed.run('ADD', { conf, args: ARGS }));

      expect(await bed.linkNames()).toContain(c.ifname);
      await c.check?.();
      expect(
        warnings().some((m) => m.includes(c.field)),
        `events: ${JSON.stringify(warnings())}`,
      ).toBe(true);
      expectOk(await bed.run('DEL', { conf, args: ARGS }));
      await bed.expectNothingLeft();
    });

    it('is refused with strict: true, leaving nothing behind', async () => {
      const err = expectCniError(await bed.run('ADD', { conf: confFor({ strict: true }), args: ARGS }), 7);

      expect(err.msg).toBeTruthy();
      expect(warnings()).toEqual([]);
      await bed.expectNothingLeft();
    });
  });

  describe("Multus' conf semantics", () => {
    const inline = (name: string, subnet: string) => macvlanConf(name, master, subnet, bed.ipamDir);
    const clusterInline = () => JSON.parse(readFileSync(bed.clusterFile, 'utf8')) as Record<string, unknown>;

    it('emits NoNetworkFound when the annotation names a NAD that does not exist', async () => {
      kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'ghost' } });

      expectCniError(await bed.run('ADD', { conf: kube.conf(bed.conf()), args: ARGS }), 7);

      const found = kube.api.events.filter((e) => e.reason === 'NoNetworkFound');
      expect(found.map((e) => [e.type, e.message])).toEqual([
        [
          'Warning',
          'cannot find a network-attachment-definition (ghost) in namespace (default): network-attachment-definitions.k8s.cni.cncf.io "ghost" not found',
        ],
      ]);
      await bed.expectNothingLeft();
    });

    it('clusterNetwork together with delegates: the inline delegates are not used', async () => {
      kube.api.setPod({ namespace: 'default', name: 'web', uid: UID });
      const conf = kube.conf(bed.conf({ delegates: [inline('inl', '10.60.0.0/24')] }));

      expectOk(await bed.run('ADD', { conf, args: ARGS }));

      expect(await bed.linkNames()).toEqual(['eth0', 'lo']);
      expectOk(await bed.run('DEL', { conf, args: ARGS }));
    });

    it('delegates without clusterNetwork: every inline delegate, even for a systemNamespaces pod, and no defaultNetworks', async () => {
      kube.api.setNad('kube-system', 'dn', JSON.stringify(inline('dn', '10.70.0.0/24')));
      kube.api.setPod({ namespace: 'kube-system', name: 'web', uid: UID });
      const { clusterNetwork: _none, ...base } = bed.conf({
        delegates: [clusterInline(), inline('inl', '10.60.0.0/24')],
        defaultNetworks: ['dn'],
      });
      const conf = kube.conf(base);
      const args = ARGS.replace('K8S_POD_NAMESPACE=default', 'K8S_POD_NAMESPACE=kube-system');

      expectOk(await bed.run('ADD', { conf, args }));

      const ifs = await podInterfaces(bed.pod);
      expect([...ifs.keys()].sort()).toEqual(['eth0', 'net1']);
      expect(ifs.get('net1')?.ips).toEqual(['10.60.0.2']);
      expectOk(await bed.run('DEL', { conf, args }));
      await bed.expectNothingLeft();
    });

    it("the default-network annotation's @ifname names the cluster interface; its ips and cni-args reach the delegate", async () => {
      const podnet = bridgeConflist('podnet', 'cni1', '10.89.0.0/24', '10.89.0.1', bed.ipamDir);
      Object.assign(podnet.plugins[0]!, { capabilities: { ips: true } });
      kube.api.setNad('kube-system', 'podnet', JSON.stringify(podnet));
      kube.api.setPod({
        namespace: 'default',
        name: 'web',
        uid: UID,
        annotations: {
          [ANN_DEFAULT]:
            '[{"name":"podnet","interface":"eth9","ips":["10.89.0.77/24"],"cni-args":{"note":"from-pod"}}]',
        },
      });
      const conf = kube.conf(bed.conf());

      const result = expectOk(await bed.run('ADD', { conf, args: ARGS }));

      expect(await bed.linkNames()).toEqual(['eth9', 'lo']);
      expect(
        (await podInterfaces(bed.pod)).get('eth9')?.ips,
        "the element's ips, as Multus merges them for the master",
      ).toEqual(['10.89.0.77']);
      expect(result?.interfaces?.some((i: { name: string }) => i.name === 'eth9')).toBe(true);
      const record = JSON.parse(readFileSync(join(bed.cniDir, bed.cacheFiles()[0]!), 'utf8')) as {
        attachments: { confBytes: string }[];
      };
      expect(JSON.parse(record.attachments[0]!.confBytes).plugins[0].args).toEqual({ cni: { note: 'from-pod' } });
      expectOk(await bed.run('DEL', { conf, args: ARGS }));
      await bed.expectNothingLeft();
    });

    it("the device plugin's deviceID wins over the annotation's, in the conf and in runtimeConfig", async () => {
      const spy = bed.spy('spy-vf');
      kube.api.setNad(
        'default',
        'vf',
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'vf',
          plugins: [{ type: 'spy-vf', capabilities: { deviceID: true } }],
        }),
        {
          'k8s.v1.cni.cncf.io/resourceName': 'example.com/vf',
        },
      );
      kube.api.setPod({
        namespace: 'default',
        name: 'web',
        uid: UID,
        annotations: { [ANN_NETWORKS]: '[{"name":"vf","deviceID":"0000:99:00.1"}]' },
      });
      const kubelet = await FakePodResources.start(makeTempDir('braid-t-kubelet'), [
        {
          namespace: 'default',
          name: 'web',
          containers: [{ name: 'app', devices: [{ resource: 'example.com/vf', ids: ['0000:03:00.2'] }] }],
        },
      ]);
      try {
        const conf = kube.conf(bed.conf({ podResourcesSocket: kubelet.socketPath }));
        expectOk(await bed.run('ADD', { conf, args: ARGS }));
        expect(spy.callsOf('ADD')[0]?.config).toMatchObject({
          deviceID: '0000:03:00.2',
          pciBusID: '0000:03:00.2',
          runtimeConfig: { deviceID: '0000:03:00.2' },
        });
        expectOk(await bed.run('DEL', { conf, args: ARGS }));
      } finally {
        await kubelet.close();
      }
    });

    it("an annotation's deviceID (no device plugin) reaches the delegate as runtimeConfig only, not in its conf", async () => {
      const spy = bed.spy('spy-dev');
      kube.api.setNad(
        'default',
        'dev',
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'dev',
          plugins: [{ type: 'spy-dev', capabilities: { deviceID: true } }],
        }),
      );
      kube.api.setPod({
        namespace: 'default',
        name: 'web',
        uid: UID,
        annotations: { [ANN_NETWORKS]: '[{"name":"dev","deviceID":"0000:99:00.1"}]' },
      });
      const conf = kube.conf(bed.conf());

      expectOk(await bed.run('ADD', { conf, args: ARGS }));

      const config = spy.callsOf('ADD')[0]!.config!;
      expect(config.runtimeConfig?.deviceID).toBe('0000:99:00.1');
      expect(config.deviceID).toBeUndefined();
      expect(config.pciBusID).toBeUndefined();
      expectOk(await bed.run('DEL', { conf, args: ARGS }));
    });
  });
});
