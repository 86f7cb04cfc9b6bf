import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANN_NETWORKS, braidUnavailable, expectOk, makeBraidBed, type BraidBed } from '../helpers/braid-fixture.ts';
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { closeAllKubeBeds, podInterfaces, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import type { SpyPlugin } from '../helpers/spy-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// Issue 3, device-plugin networks, through the braid binary: NADs with
// k8s.v1.cni.cncf.io/resourceName get the pod's device IDs (kubelet PodResources gRPC, else the
// device-manager checkpoint), sorted and dealt in plan order; spy delegates show what reached
// them. Then Debian's host-device plugin standing in for an SR-IOV VF.

const unavailable = braidUnavailable();
const RESOURCE = 'example.com/vf';
const ALLOCATED = ['0000:03:00.4', '0000:03:00.2'];
const UID = 'uid-web';
const ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=${UID}`;

describe.skipIf(unavailable !== undefined)('braid on the Kubernetes API: device IDs', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let podResources: FakePodResources | undefined;

  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
  });
  afterEach(async () => {
    await podResources?.close();
    podResources = undefined;
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  describe('two NADs sharing one resourceName', () => {
    let withCapability: SpyPlugin;
    let without: SpyPlugin;

    beforeEach(() => {
      withCapability = bed.spy('spy-vf-cap');
      without = bed.spy('spy-vf');
      const list = (name: string, plugin: Record<string, unknown>) =>
        JSON.stringify({ cniVersion: '1.0.0', name, plugins: [plugin] });
      const annotations = { 'k8s.v1.cni.cncf.io/resourceName': RESOURCE };
      kube.api.setNad(
        'default',
        'vf-a',
        list('vf-a', { type: 'spy-vf-cap', capabilities: { deviceID: true } }),
        annotations,
      );
      kube.api.setNad('default', 'vf-b', list('vf-b', { type: 'spy-vf' }), annotations);
      kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'vf-a, vf-b' } });
    });

    /** ADD, then what each spy got: the sorted IDs in plan order, runtimeConfig only where declared. */
    async function expectDealtIds(conf: Record<string, unknown>): Promise<void> {
      expectOk(await bed.run('ADD', { conf, args: ARGS }));

      const a = withCapability.callsOf('ADD');
      const b = without.callsOf('ADD');
      expect(a).toHaveLength(1);
      expect(b).toHaveLength(1);
      expect(a[0]!.env.CNI_IFNAME).toBe('net1');
      expect(a[0]!.config).toMatchObject({
        deviceID: '0000:03:00.2',
        pciBusID: '0000:03:00.2',
        runtimeConfig: { deviceID: '0000:03:00.2' },
      });
      expect(b[0]!.env.CNI_IFNAME).toBe('net2');
      expect(b[0]!.config).toMatchObject({ deviceID: '0000:03:00.4', pciBusID: '0000:03:00.4' });
      expect(
        b[0]!.config!.runtimeConfig?.deviceID,
        'no capabilities.deviceID, no runtimeConfig.deviceID',
      ).toBeUndefined();

      expectOk(await bed.run('DEL', { conf, args: ARGS }));
      expect(withCapability.callsOf('DEL')).toHaveLength(1);
      expect(without.callsOf('DEL')).toHaveLength(1);
      await bed.expectNothingLeft();
    }

    it('get the sorted device IDs from the PodResources API, one List call per ADD', async () => {
      podResources = await FakePodResources.start(makeTempDir('braid-t-kubelet'), [
        {
          namespace: 'default',
          name: 'other',
          containers: [{ name: 'app', devices: [{ resource: RESOURCE, ids: ['0000:03:00.1'] }] }],
        },
        {
          namespace: 'default',
          name: 'web',
          containers: [{ name: 'app', devices: [{ resource: RESOURCE, ids: ALLOCATED }] }],
        },
      ]);

      await expectDealtIds(kube.conf(bed.conf({ podResourcesSocket: podResources.socketPath })));

      expect(podResources.calls).toBe(1);
    });

    it('get them from the device-manager checkpoint when there is no PodResources socket', async () => {
      const dir = makeTempDir('braid-t-kubelet');
      const checkpoint = join(dir, 'kubelet_internal_checkpoint');
      const entry = (uid: string, ids: string[]) => ({
        PodUID: uid,
        ContainerName: 'app',
        ResourceName: RESOURCE,
        DeviceIDs: { '0': ids },
        AllocResp: '',
      });
      writeFileSync(
        checkpoint,
        JSON.stringify({
          Data: {
            PodDeviceEntries: [entry('uid-other', ['0000:03:00.1']), entry(UID, ALLOCATED)],
            RegisteredDevices: {},
          },
          Checksum: 1,
        }),
      );

      await expectDealtIds(
        kube.conf(bed.conf({ podResourcesSocket: join(dir, 'absent.sock'), deviceCheckpointFile: checkpoint })),
      );
    });

    // Multus resolves defaultNetworks NADs with getKubernetesDelegate(pod, resourceMap) too, so an
    // SR-IOV default network takes the first device and the annotation's networks the next ones.
    it('deal a defaultNetworks NAD its device first, then the annotation networks', async () => {
      const dn = bed.spy('spy-vf-dn');
      const list = JSON.stringify({
        cniVersion: '1.0.0',
        name: 'vf-dn',
        plugins: [{ type: 'spy-vf-dn', capabilities: { deviceID: true } }],
      });
      kube.api.setNad('kube-system', 'vf-dn', list, { 'k8s.v1.cni.cncf.io/resourceName': RESOURCE });
      kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'vf-a' } });
      podResources = await FakePodResources.start(makeTempDir('braid-t-kubelet'), [
        {
          namespace: 'default',
          name: 'web',
          containers: [{ name: 'app', devices: [{ resource: RESOURCE, ids: ALLOCATED }] }],
        },
      ]);
      const conf = kube.conf(bed.conf({ podResourcesSocket: podResources.socketPath, defaultNetworks: ['vf-dn'] }));

      expectOk(await bed.run('ADD', { conf, args: ARGS }));

      expect(dn.callsOf('ADD')[0]?.config, 'defaultNetworks vf-dn (net1)').toMatchObject({
        deviceID: '0000:03:00.2',
        runtimeConfig: { deviceID: '0000:03:00.2' },
      });
      expect(withCapability.callsOf('ADD')[0]?.config, 'annotation vf-a (net2)').toMatchObject({
        deviceID: '0000:03:00.4',
      });
      expectOk(await bed.run('DEL', { conf, args: ARGS }));
    });
  });

  describe('host-device standing in for a VF', () => {
    it('moves the named node interface into the pod as net1 and back on DEL', async () => {
      const vf = await bed.nodeVeth();
      const mac = (await bed.node.links()).find((l) => l.ifname === vf)!.address;
      const conf = kube.conf(bed.conf());
      kube.api.setNad(
        'default',
        'vf',
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'vf',
          type: 'host-device',
          device: vf,
          ipam: bed.hostLocal('10.30.0.0/24'),
        }),
      );
      kube.api.setPod({ namespace: 'default', name: 'web', annotations: { [ANN_NETWORKS]: 'vf' } });

      expectOk(await bed.run('ADD', { conf }));

      expect((await podInterfaces(bed.pod)).get('net1')).toEqual({
        ifname: 'net1',
        mac,
        kind: 'veth',
        ips: ['10.30.0.2'],
      });
      expect((await bed.node.links()).map((l) => l.ifname)).not.toContain(vf);

      expectOk(await bed.run('DEL', { conf }));

      expect(
        (await bed.node.links()).find((l) => l.ifname === vf)?.address,
        'back in the node under its own name',
      ).toBe(mac);
      await bed.expectNothingLeft();
    });
  });
});
